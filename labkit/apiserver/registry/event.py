"""The Event strategy (``pkg/registry/core/event``)."""

from __future__ import annotations

from labkit.apiserver.strategy import Strategy


class EventStrategy(Strategy):
    kind = "Event"


STRATEGY = EventStrategy()
