"""One pod's life, watch event by watch event: phase, conditions and container states over time.

Shows what ``kubectl get pod -w -o yaml`` would stream: the pod's ``status`` as the scheduler
(``PodScheduled``), the kubelet's status manager (``pkg/kubelet/status``: phase, ``Initialized``,
``ContainersReady``, ``Ready``, each container's ``state`` / ``restartCount``) and the API server
(``deletionTimestamp``) write it. The widget keeps its own list+watch of that one pod (an
:class:`~labkit.informer.Informer` with ``fieldSelector=metadata.name=...``), so every ADDED,
MODIFIED and DELETED event becomes one row. Left out: ephemeral containers, ``lastState`` (only the
restart count shows that a container ran before), resize and readiness-gate conditions.

:class:`InformerFeed` runs informers for a widget on the cluster's loop; the node health widget
uses it too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.component import Component
from labkit.informer import Informer
from labkit.widgets.base import PHASE_COLORS, WIDGET_USER, LiveWidget, esc, esc_wrap

CONDITION_ORDER = ("PodScheduled", "Initialized", "ContainersReady", "Ready")
STATE_COLORS = {"waiting": PHASE_COLORS["Pending"], "running": PHASE_COLORS["Running"],
                "terminated": PHASE_COLORS["Unknown"], "": "#eeeeee"}


class InformerFeed(Component):
    """Informers that feed one widget, run as a component on the cluster's loop (stopped with the
    cluster, or by :meth:`detach` when the widget closes). ``on_tick`` is called every ``tick``
    seconds on the loop (a widget whose view ages with the clock invalidates itself there);
    ``on_stop`` once when the cluster stops it (not when the widget closes)."""

    name = "widget-feed"
    stops_first = True  # its widget says "stopped" before anything it shows goes down

    def __init__(self, cluster: Any, informers: Callable[[Any], Iterable[Informer]], *, tick: float = 0,
                 on_tick: Callable[[], None] | None = None, on_stop: Callable[[], None] | None = None) -> None:
        super().__init__(cluster.client_for(WIDGET_USER, ["system:masters"], agent="labkit-widgets"))
        self.informers = list(informers(self.client))
        self.tick, self.on_tick, self.on_stop = tick, on_tick, on_stop

    async def run(self) -> None:
        for informer in self.informers:
            self.spawn(informer.run(), f"informer:{informer.plural}")
        for informer in self.informers:
            await informer.synced.wait()
        if self.tick and self.on_tick:
            self.spawn(self._ticker(self.tick, self.on_tick), "tick")

    @staticmethod
    async def _ticker(every: float, fn: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(every)
            fn()

    @classmethod
    def attach(cls, widget: LiveWidget, cluster: Any, informers: Callable[[Any], Iterable[Informer]],
               **kwargs: Any) -> InformerFeed:
        """Start a feed for ``widget`` (returns once its caches are synced); it stops when the widget closes."""
        feed = cls(cluster, informers, **kwargs)
        cluster.add(feed)
        widget.on_close(lambda: feed.detach(cluster))
        return feed

    async def stop(self) -> None:
        await super().stop()
        if self.on_stop is not None:
            self.on_stop()

    def detach(self, cluster: Any) -> None:
        self.on_stop = None  # the widget closes: nothing to tell it
        if self in cluster.components:
            cluster.components.remove(self)
            cluster.run(self.stop())


@dataclasses.dataclass(frozen=True, slots=True)
class ContainerRow:
    name: str
    state: str  # waiting, running, terminated ("" before the kubelet reported it)
    reason: str  # waiting/terminated reason (ContainerCreating, CrashLoopBackOff, Completed, Error ...)
    ready: bool
    restarts: int

    def text(self) -> str:
        state = f"{self.state}({self.reason})" if self.reason else self.state or "-"
        return f"{self.name}={state}{' ready' if self.ready else ''} restarts={self.restarts}"


@dataclasses.dataclass(frozen=True, slots=True)
class PodRow:
    """The pod as one watch event showed it."""

    t: float  # time.monotonic() when the widget saw the event
    event: str  # ADDED, MODIFIED, DELETED
    resource_version: str
    phase: str
    node: str
    conditions: tuple[tuple[str, str], ...]  # (type, status) in CONDITION_ORDER, then any others
    containers: tuple[ContainerRow, ...]
    deleting: bool

    @classmethod
    def of(cls, event: str, pod: Obj, t: float) -> PodRow:
        status = pod.get("status") or {}
        found = {c["type"]: c.get("status", "") for c in status.get("conditions") or []}
        conditions = tuple((k, found[k]) for k in [*CONDITION_ORDER, *sorted(set(found) - set(CONDITION_ORDER))]
                           if k in found)
        reported = {c["name"]: c for c in [*(status.get("initContainerStatuses") or []),
                                           *(status.get("containerStatuses") or [])]}
        names = [c["name"] for c in [*(pod["spec"].get("initContainers") or []), *pod["spec"].get("containers", [])]]
        return cls(t=t, event=event, resource_version=pod["metadata"].get("resourceVersion", ""),
                   phase=status.get("phase", ""), node=pod["spec"].get("nodeName", ""), conditions=conditions,
                   containers=tuple(_container(n, reported.get(n)) for n in names),
                   deleting=bool(pod["metadata"].get("deletionTimestamp")))

    def text(self) -> str:
        conds = " ".join(f"{k}={v}" for k, v in self.conditions) or "-"
        ctrs = " ".join(c.text() for c in self.containers)
        deleting = " deleting" if self.deleting else ""
        return f"{self.event:<8} {self.phase or '-':<9} node={self.node or '-'}{deleting} | {conds} | {ctrs}"


def _container(name: str, status: Obj | None) -> ContainerRow:
    if status is None:
        return ContainerRow(name, "", "", False, 0)
    state, detail = next(iter((status.get("state") or {}).items()), ("", None))
    return ContainerRow(name, state, (detail or {}).get("reason", ""), bool(status.get("ready")),
                        int(status.get("restartCount", 0)))


class PodLifecycle(LiveWidget):
    """``PodLifecycle(cluster, "web-0", namespace="default")``: a row per watch event of that pod, live.

    Without a cluster (``cluster=None``) it shows what :meth:`record` is given."""

    css_name = "pod-lifecycle"

    def __init__(self, cluster: Any, name: str, *, namespace: str = "default", max_rows: int = 200) -> None:
        super().__init__()
        self.name, self.namespace = name, namespace
        self._rows: deque[PodRow] = deque(maxlen=max_rows)
        self._rows_lock = threading.Lock()
        self.rows: list[PodRow] = []  # the model the view shows (collected from the watch)
        if cluster is not None:
            InformerFeed.attach(self, cluster, lambda client: [self._informer(client)])
        self.refresh()

    def _informer(self, client: Any) -> Informer:
        informer = Informer(client, "v1", "pods", namespace=self.namespace, field_selector=f"metadata.name={self.name}")
        informer.add_handlers(on_add=lambda pod: self.record("ADDED", pod),
                              on_update=lambda _old, pod: self.record("MODIFIED", pod),
                              on_delete=lambda pod: self.record("DELETED", pod))
        return informer

    def record(self, event: str, pod: Obj, *, t: float | None = None) -> None:
        """Record one watch event of the pod (any thread) and schedule a redraw."""
        row = PodRow.of(event, pod, time.monotonic() if t is None else t)
        with self._rows_lock:
            self._rows.append(row)
        self.invalidate()

    def collect(self) -> None:
        with self._rows_lock:
            self.rows = list(self._rows)

    def summary(self) -> str:
        last = self.rows[-1] if self.rows else None
        now = f"{last.phase or '-'}{', deleted' if last.event == 'DELETED' else ''}" if last else "not seen yet"
        n = len(self.rows)
        return f"PodLifecycle({self.namespace}/{self.name}: {n} event{'' if n == 1 else 's'}, {now})"

    def text(self) -> str:
        return "\n".join([self.summary(), *(f"{i:>3} {row.text()}" for i, row in enumerate(self.rows, 1))])

    def render(self) -> str:
        title = f"<div><b>pod {esc(self.namespace)}/{esc(self.name)}</b></div>"
        if not self.rows:
            return f"{title}<div>no watch event yet</div>"
        t0 = self.rows[0].t
        columns = ("#", "t", "event", "phase", "node", *CONDITION_ORDER, "containers")
        header = "".join(f"<th>{esc_wrap(h, camel=True)}</th>" for h in columns)
        body = "".join(self._row_html(i, row, t0) for i, row in enumerate(self.rows, 1))
        return f"{title}{self._strip(t0)}<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"

    def _row_html(self, i: int, row: PodRow, t0: float) -> str:
        conds = dict(row.conditions)
        deleting = " (deleting)" if row.deleting else ""
        cells = [f"<td>{i}</td><td>+{row.t - t0:.1f}s</td><td>{esc(row.event)}{deleting}</td>",
                 _cell(row.phase or "-", PHASE_COLORS.get(row.phase, "")),
                 f'<td style="white-space:nowrap">{esc(row.node or "-")}</td>']
        colors = {"True": PHASE_COLORS["Ready"], "False": PHASE_COLORS["NotReady"], "Unknown": PHASE_COLORS["Unknown"]}
        cells += [_cell(conds.get(k, ""), colors.get(conds.get(k, ""), "")) for k in CONDITION_ORDER]
        ctrs = "<br>".join(
            f'<span style="background:{STATE_COLORS.get(c.state, "")}">{esc(c.name)}: {esc(c.state or "-")}'
            f'{" " + esc_wrap(c.reason, camel=True) if c.reason else ""}</span>'  # a reason breaks inside its CamelCase
            f'{" ready" if c.ready else ""} restarts={c.restarts}'
            for c in row.containers)
        return "<tr>" + "".join(cells) + f"<td>{ctrs}</td></tr>"

    def _strip(self, t0: float) -> str:
        """An SVG bar: the pod's phase over time, one segment per event (a tick per event)."""
        width, span = 600, max(self.rows[-1].t - t0, 1e-9)
        xs = [round((r.t - t0) / span * width) if len(self.rows) > 1 else 0 for r in self.rows] + [width]
        parts = []
        for row, x, nxt in zip(self.rows, xs, xs[1:], strict=False):
            color = PHASE_COLORS.get(row.phase, "#eeeeee") if row.event != "DELETED" else "#ffffff"
            parts.append(f'<rect x="{x}" y="0" width="{max(nxt - x, 2)}" height="14" fill="{color}">'
                         f"<title>{esc(row.event)} {esc(row.phase)}</title></rect>"
                         f'<line x1="{x}" y1="0" x2="{x}" y2="18" stroke="#333"/>')
        return f'<svg width="{width + 2}" height="20" class="labkit-pod-strip">{"".join(parts)}</svg>'


def _cell(text: str, color: str) -> str:
    style = f' style="background:{color}"' if color else ""
    return f"<td{style}>{esc(text)}</td>"
