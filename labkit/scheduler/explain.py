"""Why the scheduler put a pod where it did: one :class:`Attempt` per scheduling attempt.

labkit's own (kube-scheduler only logs at high verbosity). An attempt keeps what the cycle computed
anyway (each rejected node's Status, each Score plugin's raw and normalized scores, the weights)
and expands it on demand into per-node, per-plugin rows, so recording costs the hot path nothing.
Nodes the cycle never looked at (``percentageOfNodesToScore`` stops once enough feasible nodes are
found) are listed as not evaluated.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from labkit.scheduler.framework import Status

NOT_RUN = "not run"


@dataclasses.dataclass(frozen=True, slots=True)
class FilterVerdict:
    node: str
    plugin: str
    verdict: str  # Success, Unschedulable, UnschedulableAndUnresolvable, Error, Skip, "not run"
    reason: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class PluginScore:
    node: str
    plugin: str
    raw: int
    normalized: int
    weight: int

    @property
    def weighted(self) -> int:
        return self.normalized * self.weight


@dataclasses.dataclass(eq=False)
class Attempt:
    """One scheduling attempt of one pod."""

    pod: str
    profile: str
    cycle: int
    num_all_nodes: int = 0
    filter_plugins: list[str] = dataclasses.field(default_factory=list)
    skipped_filters: set[str] = dataclasses.field(default_factory=set)
    evaluated: list[str] = dataclasses.field(default_factory=list)  # node names, in the order filtered
    rejected: dict[str, Status] = dataclasses.field(default_factory=dict)
    feasible: list[str] = dataclasses.field(default_factory=list)
    scores: dict[str, tuple[list[int], list[int]]] = dataclasses.field(default_factory=dict)
    weights: dict[str, int] = dataclasses.field(default_factory=dict)
    node: str = ""  # the chosen node
    error: str = ""  # the FitError message (or another error)
    nominated_node: str = ""  # set when preemption made room

    def filters(self) -> list[FilterVerdict]:
        """Each evaluated node × each filter plugin: its verdict and reason."""
        out = []
        for node in self.evaluated:
            status = self.rejected.get(node)
            decided = False
            for plugin in self.filter_plugins:
                if plugin in self.skipped_filters:
                    out.append(FilterVerdict(node, plugin, "Skip"))
                elif decided:
                    out.append(FilterVerdict(node, plugin, NOT_RUN))
                elif status is not None and status.plugin == plugin:
                    out.append(FilterVerdict(node, plugin, status.code.name, status.message))
                    decided = True
                else:
                    out.append(FilterVerdict(node, plugin, "Success"))
            if status is not None and not decided:  # rejected before the filters (PreFilter)
                out.append(FilterVerdict(node, status.plugin, status.code.name, status.message))
        return out

    def plugin_scores(self) -> list[PluginScore]:
        return [PluginScore(node, plugin, raw[i], normalized[i], self.weights.get(plugin, 1))
                for plugin, (raw, normalized) in self.scores.items() for i, node in enumerate(self.feasible)]

    def totals(self) -> dict[str, int]:
        """Each feasible node's final score (the weighted sum), best first."""
        total = dict.fromkeys(self.feasible, 0)
        for s in self.plugin_scores():
            total[s.node] += s.weighted
        return dict(sorted(total.items(), key=lambda kv: -kv[1]))

    def table(self, limit: int = 20) -> str:
        """A plain-text report: the outcome, the best ``limit`` feasible nodes' scores, the rejections."""
        lines = [f"pod {self.pod} (profile {self.profile}, cycle {self.cycle}): "
                 + (f"bound to {self.node}" if self.node else f"unschedulable: {self.error}")]
        if self.nominated_node:
            lines.append(f"  preemption nominated node {self.nominated_node}")
        lines.append(f"  nodes: {self.num_all_nodes} in cache, {len(self.evaluated)} evaluated, "
                     f"{len(self.feasible)} feasible")
        plugins = list(self.scores)
        if self.feasible and plugins:
            lines.append("  " + "node".ljust(16) + "".join(p[:24].rjust(26) for p in plugins) + "total".rjust(8))
            by_node: dict[str, dict[str, PluginScore]] = {}
            for s in self.plugin_scores():
                by_node.setdefault(s.node, {})[s.plugin] = s
            for node, total in list(self.totals().items())[:limit]:
                cells = "".join(f"{s.raw}->{s.normalized}x{s.weight}={s.weighted}".rjust(26)
                                for s in (by_node[node][p] for p in plugins))
                lines.append("  " + node.ljust(16) + cells + str(total).rjust(8))
        for node, status in list(self.rejected.items())[:limit]:
            lines.append(f"  {node.ljust(16)} rejected by {status.plugin}: {status.code.name}: {status.message}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        outcome = f"node={self.node!r}" if self.node else f"error={self.error!r}"
        return f"<Attempt {self.pod} cycle={self.cycle} {outcome} feasible={len(self.feasible)}/{self.num_all_nodes}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython shows the table
        p.text(self.table())
