"""Leases: attach, keepalive, revoke, expiry by the store's own timer, and close()."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from labkit.store import LeaseNotFound, Store
from labkit.store import _common


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
    assert 29 < remaining <= 30
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


def test_leases_expire_on_their_own(store: Store, recorder) -> None:
    lease = store.lease_grant(0.2)
    store.put("/ephemeral", b"1", lease=lease)
    rec = recorder()
    store.watch("/ephemeral", rec)
    assert wait_for(lambda: not store.range("/ephemeral").kvs)
    assert rec.summary() == [("DELETE", "/ephemeral", 3)]
    with pytest.raises(LeaseNotFound):
        store.lease_keepalive(lease)


def test_keepalive_keeps_a_lease_alive(store: Store) -> None:
    lease = store.lease_grant(0.3)
    store.put("/held", b"1", lease=lease)
    for _ in range(10):  # 0.5 s in all, well past the TTL
        time.sleep(0.05)
        assert store.lease_keepalive(lease) == 0.3
    assert store.range("/held").kvs
    assert wait_for(lambda: not store.range("/held").kvs)


def test_expire_leases_revokes_what_is_due(store: Store, monkeypatch) -> None:
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


def test_close_stops_the_lessor_thread(store: Store) -> None:
    store.lease_grant(30)
    thread = store._timer  # type: ignore[attr-defined]
    assert thread.is_alive()
    store.close()
    thread.join(2)
    assert not thread.is_alive()
    store.close()  # idempotent (the fixture closes again)
