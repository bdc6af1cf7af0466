"""The watch cache's window: sized by time as kube-apiserver's watch cache sizes it, and what a watch
from a resourceVersion before it gets (410 Expired, the message kube's cacher writes)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from labkit.apiserver import errors, watch
from labkit.apiserver.storage import Registry


class Clock:
    """The cache's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cm(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {"k": "v"}}


async def _inline(fn, *args):
    return fn(*args)


def _watch(cache: watch.WatchCache, revision: int, got: list[tuple[str, str]], enough: asyncio.Event, n: int):
    """A watch from ``revision`` that records what it is sent and sets ``enough`` at ``n`` events."""
    async def send(kind: str, obj: dict[str, Any], change: watch.Change | None) -> None:
        got.append((kind, obj["metadata"]["name"]))
        if len(got) == n:
            enough.set()

    return watch.watch(cache, "default", send, matches=lambda obj: True, resource_version=str(revision),
                       send_initial_events=None, allow_bookmarks=False, off_loop=_inline)


def test_the_window_doubles_under_a_burst_and_halves_back_when_events_come_slowly(registry) -> None:
    configmaps: Registry = registry("configmaps")
    clock = Clock()

    async def run() -> None:
        cache = watch.WatchCache(configmaps, clock=clock)
        cache.start()
        for i in range(1000):  # a burst: every event fresher than 75 s
            configmaps.create("default", cm(f"burst-{i}"))
        assert (cache.capacity, len(cache.window), cache.evicted) == (1600, 1000, False)
        for i in range(700):  # then one event every 10 s: the window shrinks to the lower bound
            clock.now += 10
            configmaps.create("default", cm(f"slow-{i}"))
        assert (cache.capacity, len(cache.window), cache.evicted) == (100, 100, True)
        assert clock.now - cache.window[0].recorded == 990  # 100 events, 10 s apart
        cache.stop()

    asyncio.run(run())


def test_a_watch_from_before_the_window_gets_410_and_one_within_it_streams(registry) -> None:
    configmaps: Registry = registry("configmaps")
    clock = Clock()

    async def run() -> None:
        cache = watch.WatchCache(configmaps, clock=clock)
        cache.start()
        revisions = []
        for i in range(150):  # 80 s apart: the window stays at 100 events and drops the first 50
            clock.now += 80
            revisions.append(configmaps.create("default", cm(f"cm-{i}"))[1])
        assert (cache.capacity, cache.window[0].revision) == (100, revisions[50])
        got: list[tuple[str, str]] = []
        enough = asyncio.Event()
        with pytest.raises(errors.ApiError) as expired:  # raised before anything is sent
            await asyncio.wait_for(_watch(cache, revisions[48], got, enough, 1), 10)
        assert (expired.value.code, expired.value.reason, expired.value.message) == (
            410, "Expired", f"too old resource version: {revisions[48]} ({revisions[50] - 1})")
        configmaps.store.compact(configmaps.store.revision)  # the window does not depend on the store's history
        watching = asyncio.ensure_future(_watch(cache, revisions[49], got, enough, 100))
        await asyncio.wait_for(enough.wait(), 10)
        watching.cancel()
        assert got == [("ADDED", f"cm-{i}") for i in range(50, 150)]
        cache.stop()

    asyncio.run(run())
