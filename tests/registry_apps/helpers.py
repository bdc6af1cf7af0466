"""Constants and helpers shared by the strategy tests."""

from __future__ import annotations

import datetime as dt

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
CREATED = "2026-01-01T11:55:00Z"  # five minutes before NOW


def fields(causes) -> list[tuple[str, str]]:
    """``(field, message)`` pairs, the way kubectl prints them."""
    return [(c.field, c.message) for c in causes]


def status_causes(err) -> list[tuple[str, str]]:
    """``(field, message)`` pairs of a raised 422's ``Status.details.causes``."""
    return [(c["field"], c["message"]) for c in err.status()["details"]["causes"]]
