"""Every built-in controller registers its event handlers once, however often ``setup()`` is called
(the manager sets all of them up before the informers start, and ``run()`` calls it again)."""

from __future__ import annotations

import pytest

from labkit.controllers.manager import CONTROLLERS


def handler_count(h) -> int:  # noqa: ANN001 - a Harness
    return sum(len(i._on_add) + len(i._on_update) + len(i._on_delete)  # noqa: SLF001 - counting, not calling
               for i in h.informers._informers.values())  # noqa: SLF001


@pytest.mark.parametrize("name", sorted(CONTROLLERS))
def test_setup_registers_handlers_once(harness, name: str) -> None:
    h = harness(CONTROLLERS[name])
    h.controller.setup()
    once = handler_count(h)
    h.controller.setup()
    assert handler_count(h) == once  # the pod GC polls: it has none
