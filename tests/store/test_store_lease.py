"""Leases: attach, keepalive, revoke, expiry by the store's own timer, and close().

On etcd a TTL is whole seconds and at least etcd's minimum (2 s with kubeadm's election timeout), and
etcd's lessor looks for expired leases every 500 ms: the expiry tests ask for the shortest TTL and
read back the one granted (``lease_keepalive`` returns it), and wait that long."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from conftest import backend

from labkit.store import LeaseNotFound, Store, _common


def wait_for(condition, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_grant_attach_and_time_to_live(store: Store) -> None:
    lease = store.lease_grant(30)
    store.put("/b", b"1", lease=lease)
    store.put("/a", b"1", lease=lease)
    assert store.range("/a").kvs[0].lease == lease
    remaining, keys = store.lease_time_to_live(lease)
    assert 29 <= remaining <= 30  # etcd reports whole seconds, rounded down
    assert keys == ["/a", "/b"]
    assert store.lease_grant(30) != lease


def test_unknown_lease(store: Store) -> None:
    with pytest.raises(LeaseNotFound):
        store.put("/a", b"1", lease=12345)
    assert store.revision == 1
    for call in (store.lease_keepalive, store.lease_revoke, store.lease_time_to_live):
        with pytest.raises(LeaseNotFound):
            call(12345)
    with pytest.raises(ValueError):
        store.lease_grant(0)


def test_revoke_deletes_attached_keys_in_one_revision(store: Store, recorder) -> None:
    lease = store.lease_grant(30)
    store.put("/p/b", b"1", lease=lease)
    store.put("/p/a", b"1", lease=lease)
    store.put("/p/keep", b"1")
    rec = recorder()
    store.watch("/p/", rec, prefix=True)
    store.lease_revoke(lease)
    assert [[(e.type, e.kv.key, e.kv.mod_revision) for e in batch] for batch in rec.batches] == [
        [("DELETE", "/p/a", 5), ("DELETE", "/p/b", 5)]]
    assert [kv.key for kv in store.range("/p/", prefix=True).kvs] == ["/p/keep"]
    with pytest.raises(LeaseNotFound):
        store.lease_time_to_live(lease)
    revoked_empty = store.lease_grant(30)
    store.lease_revoke(revoked_empty)
    assert store.revision == 5  # revoking a lease without keys writes nothing


def test_rewriting_or_deleting_a_key_detaches_it(store: Store) -> None:
    first, second = store.lease_grant(30), store.lease_grant(30)
    store.put("/moved", b"1", lease=first)
    store.put("/moved", b"2", lease=second)
    store.put("/plain", b"1", lease=first)
    store.put("/plain", b"2")
    store.put("/gone", b"1", lease=first)
    store.delete("/gone")
    assert store.lease_time_to_live(first)[1] == []
    assert store.lease_time_to_live(second)[1] == ["/moved"]
    store.lease_revoke(first)
    assert [kv.key for kv in store.range("/", prefix=True).kvs] == ["/moved", "/plain"]


def short_lease(store: Store) -> tuple[int, float]:
    """A lease with the shortest TTL the backend grants, and that TTL."""
    lease = store.lease_grant(0.2 if backend(store) == "mvcc" else 1)
    return lease, store.lease_keepalive(lease)


def test_leases_expire_on_their_own(store: Store, recorder) -> None:
    lease, ttl = short_lease(store)
    store.put("/ephemeral", b"1", lease=lease)
    rec = recorder()
    store.watch("/ephemeral", rec)
    assert wait_for(lambda: not store.range("/ephemeral").kvs, timeout=ttl + 3)
    assert rec.summary() == [("DELETE", "/ephemeral", 3)]
    with pytest.raises(LeaseNotFound):
        store.lease_keepalive(lease)


def test_keepalive_keeps_a_lease_alive(store: Store) -> None:
    lease, ttl = short_lease(store)
    store.put("/held", b"1", lease=lease)
    for _ in range(10):  # 1.7 TTLs in all, well past the TTL
        time.sleep(ttl / 6)
        assert store.lease_keepalive(lease) == ttl
    assert store.range("/held").kvs
    assert wait_for(lambda: not store.range("/held").kvs, timeout=ttl + 3)


def test_expire_leases_revokes_what_is_due(store: Store, monkeypatch) -> None:
    if backend(store) == "etcd":
        pytest.skip("etcd's lessor runs on etcd's clock: a client cannot move it (expire_leases() does nothing)")
    clock = [time.monotonic()]
    monkeypatch.setattr(_common, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    lease = store.lease_grant(60)
    store.put("/a", b"1", lease=lease)
    store.lease_grant(600)
    assert store.expire_leases() == 0
    with store._lock:  # type: ignore[attr-defined]  # so the lessor thread cannot revoke it first
        clock[0] += 120
        assert store.expire_leases() == 1
    assert store.range("/a").kvs == []


def test_close_stops_the_stores_threads(store: Store) -> None:
    """The lessor's timer (memory, SQLite) or the watch reader (etcd): threads named after this store
    (other tests' clusters run stores of their own in this process)."""
    store.lease_grant(30)
    threads = [t for t in threading.enumerate() if t.name.startswith(f"{type(store).__name__}-{id(store):x}-")]
    assert threads and all(t.is_alive() for t in threads)
    store.close()
    for thread in threads:
        thread.join(2)
        assert not thread.is_alive()
    store.close()  # idempotent (the fixture closes again)
