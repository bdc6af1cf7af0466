"""A read etcd refuses during an election is sent again, as clientv3 does; a write never is."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.store import StoreError
from labkit.store._gateway import GatewayError
from labkit.store.etcd import UNAVAILABLE, EtcdStore


class ElectingGateway:
    """etcd's gateway while a leader is elected: the first calls answer ``leader changed``."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.calls: list[str] = []

    def call(self, path: str, request: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(path)
        if len(self.calls) <= self.refusals:
            raise GatewayError("etcdserver: leader changed", UNAVAILABLE, 503)
        return {"header": {"revision": "7"}}


def store_over(gateway: ElectingGateway) -> EtcdStore:
    store = EtcdStore.__new__(EtcdStore)  # no etcd: only the calls' handling is under test
    store._gateway = gateway  # type: ignore[assignment]  # a stand-in for etcd's gateway
    store._closed = False
    return store


def test_a_range_refused_during_an_election_is_sent_again() -> None:
    gateway = ElectingGateway(refusals=3)
    assert store_over(gateway)._call("/v3/kv/range", {"key": "a"}) == {"header": {"revision": "7"}}
    assert gateway.calls == ["/v3/kv/range"] * 4


def test_a_range_is_not_sent_again_past_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a quorum each answer takes etcd's 7 s request timeout: one try, not a hundred."""
    import labkit.store.etcd as etcd

    monkeypatch.setattr(etcd, "READ_RETRY_SECONDS", 0.0)
    gateway = ElectingGateway(refusals=5)
    with pytest.raises(StoreError, match="leader changed"):
        store_over(gateway)._call("/v3/kv/range", {"key": "a"})
    assert gateway.calls == ["/v3/kv/range"]


@pytest.mark.parametrize("path", ["/v3/kv/put", "/v3/kv/txn"])
def test_a_write_refused_during_an_election_is_not_sent_again(path: str) -> None:
    gateway = ElectingGateway(refusals=1)
    with pytest.raises(StoreError, match="etcdserver: leader changed"):
        store_over(gateway)._call(path, {})
    assert gateway.calls == [path]
