"""Controller unit tests: one controller on labkit.testing's fakes, no cluster, no sleeping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labkit.testing import Harness


@pytest.fixture
def harness() -> Iterator[Callable[..., Harness]]:
    """``harness(ControllerClass, objects, config=..., clock=...)``; each one is closed after the test."""
    made: list[Harness] = []

    def make(controller_class: Any, objects: Any = (), **kw: Any) -> Harness:
        h = Harness(controller_class, objects, **kw)
        made.append(h)
        return h
    yield make
    for h in made:
        h.close()
