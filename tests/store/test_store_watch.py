"""Watch: live fan-out, history replay, the replay/live hand-off, cancel, compaction errors."""

from __future__ import annotations

import threading

import pytest

from labkit.store import Compacted, Delete, Event, KeyValue, Put, Store


def test_live_events_fan_out_to_matching_watchers(store: Store, recorder) -> None:
    pods, one, other = recorder(), recorder(), recorder()
    store.watch("/registry/pods/", pods, prefix=True)
    store.watch("/registry/pods/ns/a", one)
    store.watch("/registry/nodes/", other, prefix=True)
    store.put("/registry/pods/ns/a", b"1")
    store.put("/registry/pods/ns/b", b"2")
    store.put("/registry/podsx", b"3")
    assert pods.summary() == [("PUT", "/registry/pods/ns/a", 2), ("PUT", "/registry/pods/ns/b", 3)]
    assert one.summary() == [("PUT", "/registry/pods/ns/a", 2)]
    assert other.batches == []


def test_events_carry_prev_kv_and_delete_shape(store: Store, recorder) -> None:
    rec = recorder()
    store.watch("/a", rec)
    store.put("/a", b"1", lease=0)
    store.put("/a", b"2")
    store.delete("/a")
    put1, put2, gone = rec.events
    assert put1 == Event("PUT", KeyValue("/a", b"1", 2, 2, 1), None)
    assert put2 == Event("PUT", KeyValue("/a", b"2", 2, 3, 2), KeyValue("/a", b"1", 2, 2, 1))
    # etcd: a DELETE's kv has the key, version 0 and the deleting revision as mod_revision
    assert gone == Event("DELETE", KeyValue("/a", b"", 0, 4, 0), KeyValue("/a", b"2", 2, 3, 2))


def test_delete_prefix_delivers_one_batch_in_key_order(store: Store, recorder) -> None:
    for key in ["/p/c", "/p/a", "/p/b"]:
        store.put(key, b"x")
    rec = recorder()
    store.watch("/p/", rec, prefix=True)
    store.delete("/p/", prefix=True)
    assert len(rec.batches) == 1
    assert [(e.type, e.kv.key, e.kv.mod_revision, e.prev_kv.key) for e in rec.batches[0]] == [
        ("DELETE", "/p/a", 5, "/p/a"), ("DELETE", "/p/b", 5, "/p/b"), ("DELETE", "/p/c", 5, "/p/c")]


def test_txn_events_come_as_one_batch(store: Store, recorder) -> None:
    store.put("/p/old", b"x")
    rec = recorder()
    store.watch("/p/", rec, prefix=True)
    store.txn([], [Put("/p/new", b"1"), Delete("/p/old"), Put("/q/elsewhere", b"2")])
    assert [[(e.type, e.kv.key) for e in batch] for batch in rec.batches] == [[("PUT", "/p/new"), ("DELETE", "/p/old")]]


def test_replay_from_a_revision_then_live(store: Store, recorder) -> None:
    store.put("/p/a", b"1")  # 2
    store.put("/x", b"1")    # 3
    store.put("/p/b", b"1")  # 4
    store.delete("/p/a")     # 5
    first, second = recorder(), recorder()
    store.watch("/p/", first, prefix=True, start_revision=3)
    store.watch("/p/", second, prefix=True, start_revision=2)
    assert first.summary() == [("PUT", "/p/b", 4), ("DELETE", "/p/a", 5)]  # replayed before watch() returned
    store.put("/p/c", b"1")  # 6
    assert first.summary()[-1] == ("PUT", "/p/c", 6)
    assert [e.kv.mod_revision for e in second.events] == [2, 4, 5, 6]
    assert second.events[2].prev_kv == KeyValue("/p/a", b"1", 2, 2, 1)


def test_watch_from_a_future_revision_waits_for_it(store: Store, recorder) -> None:
    rec = recorder()
    store.watch("/a", rec, start_revision=4)  # etcd accepts a start beyond the current revision
    store.put("/a", b"1")  # 2
    store.put("/a", b"2")  # 3
    store.put("/a", b"3")  # 4
    store.put("/a", b"4")  # 5
    assert rec.summary() == [("PUT", "/a", 4), ("PUT", "/a", 5)]


def test_no_event_lost_or_repeated_between_replay_and_live(store: Store, recorder) -> None:
    writes = 400
    started = threading.Event()

    def writer() -> None:
        for i in range(writes):
            store.put(f"/k/{i % 7}", b"%d" % i)
            if i == writes // 4:
                started.set()

    thread = threading.Thread(target=writer)
    thread.start()
    started.wait()
    watchers = [recorder() for _ in range(3)]
    for rec in watchers:
        store.watch("/k/", rec, prefix=True, start_revision=2)
    thread.join()
    for rec in watchers:
        assert [e.kv.mod_revision for e in rec.events] == list(range(2, writes + 2))


def test_cancel_stops_delivery_and_is_idempotent(store: Store, recorder) -> None:
    kept, cancelled = recorder(), recorder()
    store.watch("/a", kept)
    handle = store.watch("/a", cancelled)
    store.put("/a", b"1")
    handle.cancel()
    handle.cancel()
    store.put("/a", b"2")
    assert len(kept.events) == 2 and len(cancelled.events) == 1


def test_a_callback_may_cancel_its_own_watch(store: Store) -> None:
    seen: list[int] = []
    handles = []

    def once(events) -> None:
        seen.append(events[0].kv.mod_revision)
        handles[0].cancel()

    handles.append(store.watch("/a", once))
    store.put("/a", b"1")
    store.put("/a", b"2")
    assert seen == [2]


def test_a_failing_callback_is_cancelled_and_the_write_succeeds(store: Store, recorder, caplog) -> None:
    calls: list[int] = []

    def broken(events) -> None:
        calls.append(events[0].kv.mod_revision)
        raise RuntimeError("boom")

    healthy = recorder()
    store.watch("/a", broken)
    store.watch("/a", healthy)
    assert store.put("/a", b"1").revision == 2
    store.put("/a", b"2")
    assert calls == [2]
    assert len(healthy.events) == 2
    assert "cancelling the watch" in caplog.text


def test_watch_below_the_compacted_revision_raises(store: Store, recorder) -> None:
    store.put("/p/a", b"1")  # 2
    store.put("/p/b", b"1")  # 3
    store.delete("/p/b")     # 4
    store.put("/p/a", b"2")  # 5
    store.put("/p/c", b"1")  # 6
    store.delete("/p/c")     # 7
    store.compact(5)
    with pytest.raises(Compacted) as err:
        store.watch("/p/", recorder(), prefix=True, start_revision=4)
    assert (err.value.requested, err.value.compacted) == (4, 5)
    # etcd refuses minRev < compactRev only: a watch from the compacted revision replays what is left
    rec = recorder()
    store.watch("/p/", rec, prefix=True, start_revision=5)
    assert rec.summary() == [("PUT", "/p/a", 5), ("PUT", "/p/c", 6), ("DELETE", "/p/c", 7)]
    assert rec.events[0].prev_kv is None  # its previous version was compacted away
    assert rec.events[2].prev_kv == KeyValue("/p/c", b"1", 6, 6, 1)
    fresh = recorder()
    store.watch("/p/", fresh, prefix=True)  # start_revision 0: only new events, never Compacted
    store.put("/p/d", b"1")
    assert fresh.summary() == [("PUT", "/p/d", 8)]


def test_tombstone_at_the_compacted_revision_is_not_replayed(store: Store, recorder) -> None:
    store.put("/a", b"1")  # 2
    store.delete("/a")     # 3
    store.compact(3)
    rec = recorder()
    store.watch("/a", rec, start_revision=3)
    assert rec.batches == []
