"""Every store test runs on both backends: the in-memory one and SQLite in a temporary file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labkit.store import Event, Store, open_store


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    spec = "memory" if request.param == "memory" else f"sqlite:{tmp_path / 'store.db'}"
    s = open_store(spec)
    yield s
    s.close()


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
