"""Why the scheduler chose that node: nodes × plugins for one pod's scheduling attempt.

Shows what ``pkg/scheduler/schedule_one.go`` computes in one cycle, as recorded by
:class:`labkit.scheduler.explain.Attempt`: each Filter plugin's verdict and reason per node, each
Score plugin's raw, normalized (0-100) and weighted score per feasible node, the totals and the
winner. A dropdown picks the attempt (one per scheduling cycle). Left out: PreScore/Reserve
details, preemption victims (only the nominated node is shown).
"""

from __future__ import annotations

from typing import Any

import ipywidgets

from labkit.scheduler.explain import Attempt
from labkit.widgets.base import LiveWidget, esc, esc_wrap, table
from labkit.widgets.story import ref_of, scheduler_attempts

VERDICT_COLORS = {"Success": "#dff0d8", "Skip": "#eeeeee", "not run": "#f7f7f7"}


class SchedulerView(LiveWidget):
    """``SchedulerView(cluster, "pod/web")`` (the attempts so far; ``live=True`` follows new ones) or
    ``SchedulerView(attempts=[...])``."""

    css_name = "scheduler-view"

    def __init__(self, cluster: Any = None, pod: Any = None, *, attempts: list[Attempt] | None = None,
                 namespace: str = "default", live: bool = False, **kwargs: Any) -> None:
        if (cluster is None) == (attempts is None):
            raise ValueError("pass a cluster and a pod, or attempts")
        self.choose = ipywidgets.Dropdown(description="attempt", options=[])
        super().__init__(controls=[self.choose], live=live and cluster is not None, toggle=cluster is not None,
                         **kwargs)
        self.cluster = cluster
        self.ref = ref_of(pod, namespace=namespace) if cluster is not None else None
        self.attempts: list[Attempt] = list(attempts or [])
        self.choose.observe(lambda _: self.redraw(), names="value")
        if self.live:
            self.sources()
        self.refresh()

    def sources(self) -> None:
        if self.ref is not None:
            ref = self.ref
            self.follow(self.cluster.trace, lambda r: r.resource.partition("/")[0] == "pods"
                        and (r.namespace, r.name) == (ref.namespace, ref.name))

    @property
    def attempt(self) -> Attempt | None:
        """The attempt shown (the latest unless the dropdown picked another)."""
        return next((a for a in self.attempts if a.cycle == self.choose.value), None)

    def collect(self) -> None:
        if self.cluster is not None:
            assert self.ref is not None
            key = f"{self.ref.namespace}/{self.ref.name}"
            self.attempts = scheduler_attempts(self.cluster, [self.ref]).get(key, [])
        options = self.choose.options
        follow = not options or self.choose.value == options[-1][1]
        previous = self.choose.value
        self.choose.options = [(f"cycle {a.cycle}" + (f" -> {a.node}" if a.node else " (failed)"), a.cycle)
                               for a in self.attempts]
        if self.attempts:
            kept = not follow and any(a.cycle == previous for a in self.attempts)
            self.choose.value = previous if kept else self.attempts[-1].cycle

    def summary(self) -> str:
        a = self.attempt
        pod = a.pod if a else (f"{self.ref.namespace}/{self.ref.name}" if self.ref else "")
        if a is None:
            return f"SchedulerView({pod}, attempts={len(self.attempts)})"
        outcome = f"node={a.node}" if a.node else "unschedulable"
        return f"SchedulerView({pod}, attempts={len(self.attempts)}, cycle={a.cycle}, {outcome}, " \
               f"feasible={len(a.feasible)}/{a.num_all_nodes})"

    def text(self) -> str:
        a = self.attempt
        return self.summary() if a is None else self.summary() + "\n" + a.table()

    def render(self) -> str:
        a = self.attempt
        if a is None:
            return "<p>no scheduling attempt recorded yet (is a scheduler in cluster.components?)</p>"
        head = (f"<p><b>{esc(a.pod)}</b> cycle {a.cycle}: "
                + (f"bound to <b>{esc(a.node)}</b>" if a.node else f"unschedulable: {esc(a.error)}")
                + (f"; preemption nominated {esc(a.nominated_node)}" if a.nominated_node else "") + "</p>")
        return head + self._filters_html(a) + self._scores_html(a)

    @staticmethod
    def _filters_html(a: Attempt) -> str:
        verdicts: dict[str, dict[str, Any]] = {}
        for f in a.filters():
            verdicts.setdefault(f.node, {})[f.plugin] = f
        plugins = list(dict.fromkeys(f.plugin for f in a.filters()))
        rows = []
        for node, by_plugin in verdicts.items():
            cells = []
            for p in plugins:
                verdict = by_plugin.get(p)
                if verdict is None:
                    cells.append("<td></td>")
                    continue
                color = VERDICT_COLORS.get(verdict.verdict, "#f2dede")
                reason = f": {esc(verdict.reason)}" if verdict.reason else ""
                cells.append(f'<td style="background:{color}">{esc(verdict.verdict)}{reason}</td>')
            rows.append(f"<tr><td>{esc(node)}</td>{''.join(cells)}</tr>")
        head = "".join(f"<th>{esc_wrap(p, camel=True)}</th>" for p in ["node (filters)", *plugins])
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"

    @staticmethod
    def _scores_html(a: Attempt) -> str:
        if not a.feasible or not a.scores:
            return ""
        by_node: dict[str, dict[str, str]] = {}
        for s in a.plugin_scores():
            by_node.setdefault(s.node, {})[s.plugin] = f"{s.raw} → {s.normalized} ×{s.weight} = {s.weighted}"
        plugins = list(a.scores)
        rows = [[("★ " if node == a.node else "") + node, *(by_node[node][p] for p in plugins), total]
                for node, total in a.totals().items()]
        return "<p>scores: raw → normalized ×weight = weighted</p>" + table(["node", *plugins, "total"], rows)
