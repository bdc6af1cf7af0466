"""Driving one controller in a test: its queue is worked until empty, and time moves only when asked.

Mirrors the shape of kube's controller unit tests (``pkg/controller/*/..._test.go``: a ``fixture``
with a fake clientset, informers filled from objects, ``syncHandler(key)`` or ``processNextWorkItem``
called directly, then the actions compared). :func:`drain` takes keys off the controller's queue and
hands each to :meth:`Controller.process`, the same code the worker runs (back-off, ``requeue_after``,
forgetting), until the queue is empty; keys that wait for a delay stay with the fake clock, so "nothing
else happens" is proved by the queue being empty and nothing waiting, never by sleeping.
:class:`Harness` builds the controller on a :class:`~labkit.testing.fake.FakeClient`, a
:class:`~labkit.testing.informers.FakeInformers` and a :class:`~labkit.testing.clock.FakeClock`, and
runs it on an event loop of its own so a plain (not async) test can drive it.

Left out: several workers at once (keys are handled one at a time, in queue order), the gate (it
stays open), and the trace (decisions are not recorded).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from labkit.apimachinery.meta import Obj
from labkit.controllers.base import Controller, Result
from labkit.controllers.config import ControllerManagerConfig
from labkit.testing.clock import FakeClock
from labkit.testing.fake import Action, FakeClient
from labkit.testing.informers import FakeInformers

T = TypeVar("T")


async def drain(controller: Controller, *, informers: FakeInformers | None = None, clock: FakeClock | None = None,
                watch: bool = False, advance: float = 0.0, max_syncs: int = 1000) -> list[str]:
    """Process the controller's queue until it is empty; the keys synced, in order.

    ``watch``: after each sync, deliver what the fake client wrote to the informers (their handlers
    queue keys, as in a cluster), until the controller and its cache agree. ``advance``: let that many
    seconds of fake time pass: whenever the queue is empty, step ``clock`` to the next delayed key (a
    ``requeue_after``, a back-off) within them and go on; at the end the clock has moved ``advance``.
    Raises if ``max_syncs`` keys were synced and it still had work: a controller that never settles.
    """
    synced: list[str] = []
    horizon = clock.monotonic() + advance if clock is not None else 0.0
    while True:
        while len(controller.queue):
            if len(synced) >= max_syncs:
                raise AssertionError(f"{controller.name} did not settle after {max_syncs} syncs; "
                                     f"still queued: {controller.queue.pending()}")
            key = await controller.queue.get()
            await controller.process(key)
            synced.append(key)
            await controller.recorder.flush()
            if watch and informers is not None:
                informers.deliver()
        if watch and informers is not None and informers.deliver():
            continue
        if clock is None or advance <= 0:
            return synced
        waits = clock.waiters()
        if waits and clock.monotonic() + waits[0] <= horizon:
            clock.step(waits[0])
            continue
        clock.step(max(horizon - clock.monotonic(), 0.0))
        return synced


def _takes_fakes(controller_class: Callable[..., Controller]) -> bool:
    """Whether ``controller_class(client, informers=, config=, clock=)`` can be called."""
    try:
        params = inspect.signature(controller_class).parameters.values()
    except (TypeError, ValueError):
        return True
    names = {p.name for p in params}
    return any(p.kind is p.VAR_KEYWORD for p in params) or {"informers", "config", "clock"} <= names


class Harness:
    """One controller of ``controller_class`` (called as the manager calls it, with ``informers``,
    ``config`` and ``clock``; a class whose ``__init__`` takes only the client gets them set after) over
    fakes holding ``objects``. Use as a context manager, or :meth:`close`."""

    def __init__(self, controller_class: Callable[..., Controller], objects: Iterable[Obj] = (), *,
                 config: ControllerManagerConfig | None = None, clock: FakeClock | None = None, seed: int = 0) -> None:
        self.clock = clock or FakeClock()
        self.client = FakeClient(objects, clock=self.clock, seed=seed)
        self.informers = FakeInformers(self.client)
        self.config = config or ControllerManagerConfig()
        if _takes_fakes(controller_class):
            self.controller = controller_class(self.client, informers=self.informers, config=self.config,
                                               clock=self.clock)
        else:  # a learner's controller whose __init__ takes only the client: give it the fakes afterwards
            self.controller = controller_class(self.client)
            self.controller.informers, self.controller.config = self.informers, self.config
            self.controller.clock = self.controller.queue.clock = self.clock
        self._runner = asyncio.Runner()
        self.started = False

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._runner.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the harness's loop (where the controller's event writes run too)."""
        return self._runner.run(coro)

    def start(self) -> Harness:
        """Register the handlers and fill the informers: each object is added, as the first list does,
        so the handlers queue the keys a starting controller would have. Done by the first drain."""
        if not self.started:
            self.started = True

            async def start() -> None:
                self.controller.setup()
                self.informers.start_now()
                await self.controller.recorder.flush()
            self.run(start())
        return self

    def drain(self, *, watch: bool = False, advance: float = 0.0, max_syncs: int = 1000) -> list[str]:
        """:func:`drain` the controller's queue (starting it first); the keys synced."""
        self.start()
        return self.run(drain(self.controller, informers=self.informers, clock=self.clock, watch=watch,
                              advance=advance, max_syncs=max_syncs))

    def sync(self, key: str) -> Result | None:
        """Call ``sync(key)`` once, directly (``syncHandler``), outside the queue; errors are raised."""
        self.start()

        async def sync() -> Result | None:
            try:
                return await self.controller.sync(key)
            finally:
                await self.controller.recorder.flush()
        return self.run(sync())

    def step(self, seconds: float) -> None:
        """Move the fake clock on (delayed keys that come due are queued)."""
        self.clock.step(seconds)

    def deliver(self) -> int:
        """Deliver the fake client's writes to the informers (and so to the handlers)."""
        return self.informers.deliver()

    # --- what came out ----------------------------------------------------------------------------

    def actions(self, *, reads: bool = True) -> list[Action]:
        """The requests sent so far, without the recorder's Event writes and discovery (see :meth:`events`)."""
        return self.client.actions(events=False, discovery=False, reads=reads)

    def writes(self) -> list[Action]:
        """The requests that change something: :meth:`actions` without get and list."""
        return self.actions(reads=False)

    def events(self) -> list[str]:
        """The Events recorded, ``"<type> <reason> <message>"``."""
        return self.client.events()

    def clear(self) -> None:
        """Forget the actions so far (``ClearActions``), to look at what a next step sends."""
        self.client.clear_actions()

    def waiting(self) -> list[tuple[str, float]]:
        """Keys waiting to come back to the queue, with the seconds each still waits."""
        return self.controller.queue.waiting()

    def objects(self, api_version: str, plural: str) -> list[Obj]:
        """What the fake API server holds of one resource now."""
        return self.client.tracker.objects(api_version, plural)
