"""Time as a control loop reads it: the wall clock, a monotonic reading, timers and sleeps, in one object.

Mirrors ``k8s.io/utils/clock`` (``Clock``: ``Now``, ``Since``, ``AfterFunc``, ``Sleep``): a controller
that takes its clock as an argument, instead of asking the system, can be run by a test on a fake one
(``labkit.testing.FakeClock``, as ``k8s.io/utils/clock/testing``'s ``FakeClock``) whose time moves only
when the test steps it, so a grace period or a requeue delay passes without waiting for it.
:data:`REAL` reads the system's time and uses the running asyncio loop's timers; a
:class:`ScaledClock` runs faster than it (a lesson shows a CronJob's minutes in seconds).

Left out: tickers and timer objects (a labkit loop sleeps, or asks to be called back later).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Protocol

from labkit.apimachinery.timeutil import now_utc


class Cancellable(Protocol):
    """What :meth:`Clock.call_later` returns (an asyncio ``TimerHandle`` is one)."""

    def cancel(self) -> None: ...


class Clock:
    """The system's clock (``clock.RealClock``)."""

    def now(self) -> dt.datetime:
        """The wall-clock time, aware and in UTC (``Now``): what goes into timestamps."""
        return now_utc()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: what durations and deadlines are measured on."""
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        """Call ``callback`` once, ``delay`` seconds from now (``AfterFunc``), on the running loop."""
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def from_real(self, t: dt.datetime) -> dt.datetime:
        """A wall time read elsewhere (an object's timestamp, written by the API server) on this clock."""
        return t


class ScaledClock(Clock):
    """The system's clock run ``speed`` times faster from the moment it is made: the wall time starts
    at the real time, then a real second moves it ``speed`` seconds; timers and sleeps shrink to match.
    Not in kube: a lesson's way to watch minutes of a schedule pass in seconds."""

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("a clock's speed must be positive")
        self.speed = speed
        self._wall0, self._mono0 = now_utc(), time.monotonic()

    def now(self) -> dt.datetime:
        return self._wall0 + dt.timedelta(seconds=(time.monotonic() - self._mono0) * self.speed)

    def monotonic(self) -> float:
        return self._mono0 + (time.monotonic() - self._mono0) * self.speed

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(max(delay, 0.0) / self.speed, callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

    def from_real(self, t: dt.datetime) -> dt.datetime:
        return self._wall0 + (t - self._wall0) * self.speed


#: the clock every component uses unless it is given another
REAL = Clock()
