"""Transactions: compares, one revision per txn, reads inside a txn, racing compare-and-swap."""

from __future__ import annotations

import threading

import pytest

from labkit.store import Compare, Delete, DeleteResult, Get, Put, PutResult, RangeResult, Store, StoreError


def test_create_if_absent(store: Store) -> None:
    absent = [Compare("/a", "mod_revision", "==", 0)]
    created = store.txn(absent, [Put("/a", b"1")], [Get("/a")])
    assert created.succeeded and created.revision == 2
    assert created.responses == [PutResult(revision=2, prev_kv=None)]
    again = store.txn(absent, [Put("/a", b"2")], [Get("/a")])
    assert not again.succeeded and again.revision == 2  # only a read ran: no new revision
    (got,) = again.responses
    assert isinstance(got, RangeResult) and got.kvs[0].value == b"1"


def test_compare_and_swap_on_mod_revision(store: Store) -> None:
    rev = store.put("/a", b"1").revision
    store.put("/a", b"2")
    stale = store.txn([Compare("/a", "mod_revision", "==", rev)], [Put("/a", b"stale")])
    assert not stale.succeeded and stale.responses == []
    current = store.range("/a").kvs[0].mod_revision
    fresh = store.txn([Compare("/a", "mod_revision", "==", current)], [Put("/a", b"fresh")])
    assert fresh.succeeded and fresh.revision == 4
    assert store.range("/a").kvs[0].value == b"fresh"


@pytest.mark.parametrize(("target", "op", "value", "holds"), [
    ("version", "==", 2, True), ("version", ">", 1, True), ("version", "<", 2, False),
    ("create_revision", "==", 2, True), ("create_revision", "!=", 2, False),
    ("mod_revision", ">", 2, True), ("value", "==", b"v2", True), ("value", "<", b"v3", True),
    ("value", ">", b"v3", False),
])
def test_compare_targets(store: Store, target: str, op: str, value: int | bytes, holds: bool) -> None:
    store.put("/a", b"v1")
    store.put("/a", b"v2")
    assert store.txn([Compare("/a", target, op, value)], []).succeeded is holds  # type: ignore[arg-type]


def test_compares_on_a_missing_key(store: Store) -> None:
    assert store.txn([Compare("/x", "version", "==", 0), Compare("/x", "create_revision", "==", 0)], []).succeeded
    # etcd: comparing the value of a key that does not exist always fails, even with "!="
    assert not store.txn([Compare("/x", "value", "!=", b"anything")], []).succeeded
    assert not store.txn([Compare("/x", "value", "==", b"")], []).succeeded


def test_all_writes_of_a_txn_share_one_revision(store: Store) -> None:
    store.put("/old/1", b"x")
    store.put("/old/2", b"y")
    result = store.txn([], [Put("/a", b"1"), Delete("/old/", prefix=True), Put("/b", b"2")])
    assert result.succeeded and result.revision == 4 == store.revision
    put_a, deleted, put_b = result.responses
    assert isinstance(deleted, DeleteResult) and [kv.key for kv in deleted.deleted] == ["/old/1", "/old/2"]
    assert isinstance(put_a, PutResult) and isinstance(put_b, PutResult)
    assert put_a.revision == put_b.revision == deleted.revision == 4
    assert [kv.mod_revision for kv in store.range("/", prefix=True).kvs] == [4, 4]


def test_a_get_in_a_txn_sees_the_txns_earlier_writes(store: Store) -> None:
    store.put("/p/a", b"1")
    store.put("/p/b", b"2")
    ops = [Get("/p/", prefix=True), Put("/p/c", b"3"), Delete("/p/a"), Get("/p/", prefix=True, limit=1)]
    result = store.txn([], ops)
    before, _, _, after = result.responses
    assert isinstance(before, RangeResult) and [kv.key for kv in before.kvs] == ["/p/a", "/p/b"]
    assert isinstance(after, RangeResult)
    assert ([kv.key for kv in after.kvs], after.count, after.more) == (["/p/b"], 2, True)
    assert after.revision == 4


def test_txn_that_changes_nothing_keeps_the_revision(store: Store) -> None:
    store.put("/a", b"1")
    result = store.txn([], [Delete("/missing"), Get("/a")])
    assert result.revision == 2 == store.revision


def test_overlapping_deletes_delete_each_key_once(store: Store, recorder) -> None:
    store.put("/p/a", b"1")
    rec = recorder()
    store.watch("/p/", rec, prefix=True)
    result = store.txn([], [Delete("/p/", prefix=True), Delete("/p/a")])
    first, second = result.responses
    assert isinstance(first, DeleteResult) and isinstance(second, DeleteResult)
    assert (len(first.deleted), second.deleted) == (1, [])
    assert rec.summary() == [("DELETE", "/p/a", 3)]


@pytest.mark.parametrize("ops", [
    [Put("/a", b"1"), Put("/a", b"2")],
    [Put("/p/a", b"1"), Delete("/p/", prefix=True)],
    [Delete("/a"), Put("/a", b"1")],
])
def test_writing_a_key_twice_in_one_txn_is_rejected(store: Store, ops) -> None:
    with pytest.raises(StoreError, match="duplicate key"):
        store.txn([], ops)
    with pytest.raises(StoreError, match="duplicate key"):
        store.txn([], [], ops)  # both branches are checked, as etcd does
    assert store.revision == 1


def cas_race(store: Store, rev: int, writers: int) -> list[int]:
    """Start ``writers`` threads at once, each trying to swap the key written at ``rev``."""
    barrier = threading.Barrier(writers)
    wins: list[int] = []

    def writer(n: int) -> None:
        barrier.wait()
        result = store.txn([Compare("/counter", "mod_revision", "==", rev)], [Put("/counter", b"w%d" % n)])
        if result.succeeded:
            wins.append(n)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins


def test_racing_compare_and_swap_exactly_one_wins(store: Store) -> None:
    for round_ in range(20):
        rev = store.put("/counter", b"base").revision
        wins = cas_race(store, rev, writers=4)
        assert len(wins) == 1, f"round {round_}: winners {wins}"
        assert store.range("/counter").kvs[0].value == b"w%d" % wins[0]
        assert store.revision == rev + 1
