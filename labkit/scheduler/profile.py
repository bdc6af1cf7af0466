"""A scheduling profile: a ``schedulerName`` and the plugins (with Score weights) it runs.

Mirrors ``KubeSchedulerProfile`` (``pkg/scheduler/apis/config``) and ``pkg/scheduler/profile``:
pods choose a profile with ``spec.schedulerName``; one scheduler can serve several profiles.
Plugins are given as instances (so a learner can pass their own); weights default to
kube-scheduler's defaults and to 1 for plugins they do not name. ``scoring`` names the plugins that
score (a configuration's ``plugins.score``); by default every plugin that can.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from labkit.scheduler.framework import Framework
from labkit.scheduler.plugins import DEFAULT_WEIGHTS, default_plugins

DEFAULT_SCHEDULER_NAME = "default-scheduler"


@dataclasses.dataclass
class Profile:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    plugins: list[Any] = dataclasses.field(default_factory=default_plugins)
    weights: dict[str, int] = dataclasses.field(default_factory=dict)
    scoring: tuple[str, ...] | None = None

    def framework(self) -> Framework:
        return Framework(self.plugins, {**DEFAULT_WEIGHTS, **self.weights}, scoring=self.scoring)
