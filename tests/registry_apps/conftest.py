"""The ``registry`` fixture: a Registry for one resource on a fresh in-memory store."""

from __future__ import annotations

import pytest

from labkit.apiserver.admission import AdmissionChain
from labkit.apiserver.resources import Resource, lookup
from labkit.apiserver.storage import Registry
from labkit.ids import IdSource
from labkit.store import open_store

from .helpers import NOW


@pytest.fixture
def registry():
    """``registry(group, plural)``: a Registry for that resource on a fresh memory store."""
    store = open_store("memory")

    def make(group: str, plural: str) -> Registry:
        resource: Resource | None = lookup(group, "v1", plural)
        assert resource is not None
        return Registry(resource, store, ids=IdSource(1), admission=AdmissionChain([]), clock=lambda: NOW)

    yield make
    store.close()

