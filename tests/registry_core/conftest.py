"""Fixtures for the core strategies: a Registry per resource on a fresh in-memory store, with the
admission plugins that shape a pod on create (ServiceAccount, Priority)."""

from __future__ import annotations

import datetime as dt

import pytest

from labkit.apiserver.admission import AdmissionChain, Priority, ServiceAccount
from labkit.apiserver.resources import lookup
from labkit.apiserver.storage import Registry
from labkit.ids import IdSource
from labkit.store import open_store

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def registry():
    """``registry(plural)``: a core/v1 Registry on a fresh memory store."""
    store = open_store("memory")

    def make(plural: str) -> Registry:
        resource = lookup("", "v1", plural)
        assert resource is not None
        chain = AdmissionChain([ServiceAccount(lambda namespace, name: None, lambda: "x7k2q"), Priority(lambda plural: [])])
        return Registry(resource, store, ids=IdSource(1), admission=chain, clock=lambda: NOW)

    yield make
    store.close()
