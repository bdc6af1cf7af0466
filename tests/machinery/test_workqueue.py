"""Work queue semantics (client-go workqueue) and the pause/step gate."""

from __future__ import annotations

import asyncio

from labkit.workqueue import Gate, WorkQueue


def run(coro):
    return asyncio.run(coro)


def test_a_key_is_queued_once_and_not_handed_out_twice() -> None:
    async def main() -> list[str]:
        q: WorkQueue[str] = WorkQueue("q")
        q.add("a"); q.add("b"); q.add("a")
        first = await q.get()
        q.add("a")  # re-added while processing: waits for done()
        second = await q.get()
        assert len(q) == 0
        q.done(first)
        third = await q.get()
        return [first, second, third]

    assert run(main()) == ["a", "b", "a"]


def test_rate_limited_requeue_backs_off_exponentially() -> None:
    async def main() -> tuple[int, float]:
        q: WorkQueue[str] = WorkQueue("q")
        loop = asyncio.get_running_loop()
        for _ in range(4):
            q.add_rate_limited("k")
            key = await q.get()
            q.done(key)
        t0 = loop.time()
        q.add_rate_limited("k")  # 5th failure: 5 ms * 2**4 = 80 ms
        await q.get()
        return q.retries("k"), loop.time() - t0

    retries, waited = run(main())
    assert retries == 5 and 0.07 <= waited < 0.5


def test_gate_pause_holds_and_step_lets_exactly_one_through() -> None:
    async def main() -> list[str]:
        gate = Gate("g")
        q: WorkQueue[str] = WorkQueue("q", gate=gate)
        gate.pause()
        for k in "abc":
            q.add(k)
        got: list[str] = []

        async def worker() -> None:
            while True:
                key = await q.get()
                got.append(key)
                q.done(key)

        task = asyncio.create_task(worker())
        await asyncio.sleep(0.05)
        assert got == [] and gate.waiting
        gate.step()
        await asyncio.sleep(0.05)
        assert got == ["a"]
        gate.resume()
        await asyncio.sleep(0.05)
        task.cancel()
        return got

    assert run(main()) == ["a", "b", "c"]


def test_a_key_added_again_with_a_delay_waits_once_for_the_sooner_time() -> None:
    """client-go's delaying queue keeps one entry per key: the earlier ready time wins."""
    from labkit.testing import FakeClock

    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue("q", clock=clock)
    q.add_after("k", 30)
    q.add_after("k", 60)
    assert q.waiting() == [("k", 30)]
    q.add_after("k", 10)
    assert q.waiting() == [("k", 10)] and clock.waiters() == [10]
    clock.step(10)
    assert q.pending() == ["k"] and q.waiting() == []
    clock.step(100)
    assert q.pending() == ["k"], "the replaced timers do not add it again"
