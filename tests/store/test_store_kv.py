"""Revisions, per-key fields, ranges (prefix, limit, old revisions) and compaction."""

from __future__ import annotations

import pytest

from labkit.store import Compacted, FutureRevision, KeyValue, Store


def test_empty_store_starts_at_revision_1(store: Store) -> None:
    assert store.revision == 1
    assert store.compact_revision == 0
    result = store.range("/registry/", prefix=True)
    assert (result.kvs, result.count, result.more, result.revision) == ([], 0, False, 1)


def test_put_bumps_revision_and_tracks_per_key_fields(store: Store) -> None:
    first = store.put("/a", b"1")
    assert (first.revision, first.prev_kv) == (2, None)
    store.put("/b", b"x")
    second = store.put("/a", b"2", lease=0)
    assert second.revision == 4
    assert second.prev_kv == KeyValue("/a", b"1", create_revision=2, mod_revision=2, version=1)
    assert store.range("/a").kvs == [KeyValue("/a", b"2", create_revision=2, mod_revision=4, version=2)]
    assert store.revision == 4


def test_delete_bumps_once_and_missing_delete_does_not(store: Store) -> None:
    store.put("/a", b"1")
    deleted = store.delete("/a")
    assert deleted.revision == 3
    assert deleted.deleted == [KeyValue("/a", b"1", 2, 2, 1)]
    nothing = store.delete("/a")
    assert (nothing.revision, nothing.deleted) == (3, [])
    assert store.delete("/nope/", prefix=True).deleted == []
    assert store.revision == 3
    assert store.range("/a").kvs == []


def test_version_and_create_revision_reset_after_recreate(store: Store) -> None:
    store.put("/a", b"1")
    store.put("/a", b"2")
    store.delete("/a")
    store.put("/a", b"3")
    assert store.range("/a").kvs == [KeyValue("/a", b"3", create_revision=5, mod_revision=5, version=1)]


def test_prefix_range_sorted_with_limit_count_more(store: Store) -> None:
    for key in ["/registry/pods/ns/c", "/registry/pods/ns/a", "/registry/pods/ns2/z", "/registry/pods/ns/b",
                "/registry/podsx/ns/a", "/registry/pod"]:
        store.put(key, key.encode())
    everything = store.range("/registry/pods/", prefix=True)
    assert [kv.key for kv in everything.kvs] == [
        "/registry/pods/ns/a", "/registry/pods/ns/b", "/registry/pods/ns/c", "/registry/pods/ns2/z"]
    assert (everything.count, everything.more, everything.revision) == (4, False, 7)
    page = store.range("/registry/pods/ns/", prefix=True, limit=2)
    assert [kv.key for kv in page.kvs] == ["/registry/pods/ns/a", "/registry/pods/ns/b"]
    assert (page.count, page.more) == (3, True)
    exact = store.range("/registry/pods/ns/", prefix=True, limit=3)
    assert (len(exact.kvs), exact.count, exact.more) == (3, 3, False)
    assert store.range("", prefix=True).count == 6
    assert store.range("/registry/pods/ns").kvs == []  # not a prefix: exact key only


def test_prefix_range_skips_deleted_keys(store: Store) -> None:
    store.put("/p/a", b"1")
    store.put("/p/b", b"2")
    store.delete("/p/a")
    result = store.range("/p/", prefix=True)
    assert [kv.key for kv in result.kvs] == ["/p/b"]
    assert result.count == 1


def test_range_at_old_revision(store: Store) -> None:
    store.put("/p/a", b"a1")  # 2
    store.put("/p/b", b"b1")  # 3
    store.put("/p/a", b"a2")  # 4
    store.delete("/p/b")      # 5
    store.put("/p/c", b"c1")  # 6
    at3 = store.range("/p/", prefix=True, revision=3)
    assert [(kv.key, kv.value, kv.version) for kv in at3.kvs] == [("/p/a", b"a1", 1), ("/p/b", b"b1", 1)]
    assert at3.revision == 6  # the header revision is the store's current one, as in etcd
    at5 = store.range("/p/", prefix=True, revision=5)
    assert [(kv.key, kv.value) for kv in at5.kvs] == [("/p/a", b"a2")]
    assert store.range("/p/a", revision=1).kvs == []
    page = store.range("/p/", prefix=True, revision=3, limit=1)
    assert ([kv.key for kv in page.kvs], page.count, page.more) == (["/p/a"], 2, True)
    assert store.range("/p/c", revision=6).kvs[0].value == b"c1"


def test_range_in_the_future_raises(store: Store) -> None:
    store.put("/a", b"1")
    with pytest.raises(FutureRevision) as err:
        store.range("/a", revision=3)
    assert (err.value.requested, err.value.current) == (3, 2)


def test_compaction_keeps_latest_values_and_refuses_older_reads(store: Store) -> None:
    store.put("/p/a", b"a1")  # 2
    store.put("/p/a", b"a2")  # 3
    store.put("/p/b", b"b1")  # 4
    store.delete("/p/b")      # 5 (tombstone at or below the compaction: vanishes)
    store.put("/p/c", b"c1")  # 6
    store.put("/p/a", b"a3")  # 7
    store.compact(6)
    assert store.compact_revision == 6
    assert store.revision == 7
    with pytest.raises(Compacted) as err:
        store.range("/p/", prefix=True, revision=5)
    assert (err.value.requested, err.value.compacted) == (5, 6)
    at6 = store.range("/p/", prefix=True, revision=6)  # reading at the compacted revision is allowed
    assert [(kv.key, kv.value) for kv in at6.kvs] == [("/p/a", b"a2"), ("/p/c", b"c1")]
    now = store.range("/p/", prefix=True)
    assert [(kv.key, kv.value, kv.version, kv.create_revision) for kv in now.kvs] == [
        ("/p/a", b"a3", 3, 2), ("/p/c", b"c1", 1, 6)]
    # the next write after compaction keeps counting versions from the kept one
    assert store.put("/p/c", b"c2").prev_kv == KeyValue("/p/c", b"c1", 6, 6, 1)


def test_compact_twice_or_in_the_future_raises(store: Store) -> None:
    store.put("/a", b"1")
    store.put("/a", b"2")
    with pytest.raises(FutureRevision):
        store.compact(4)
    store.compact(2)
    with pytest.raises(Compacted):
        store.compact(2)
    store.compact(3)  # compacting up to the current revision is fine
    assert store.range("/a").kvs[0].value == b"2"
    assert store.range("/a", revision=3).kvs[0].value == b"2"


def test_recreated_key_after_compaction(store: Store) -> None:
    store.put("/a", b"1")
    store.delete("/a")
    store.compact(3)
    assert store.range("/a", revision=3).kvs == []
    assert store.put("/a", b"2").prev_kv is None
    assert store.range("/a").kvs == [KeyValue("/a", b"2", 4, 4, 1)]
