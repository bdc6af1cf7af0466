"""The story of an action as a sequence diagram, replayable step by step.

labkit's own. Lanes are the components (client, apiserver, etcd, scheduler, controller-manager, each
kubelet, kube-proxy); each :class:`~labkit.widgets.story.Step` is an arrow between two lanes, or a
mark on one lane for a decision, under a line of text that runs across the diagram (so the diagram is
only as wide as its lanes). A ``Play`` and an ``IntSlider`` are ``jslink``-ed (so replay works
even in a static export); the diagram shows the steps up to the slider's value. A timeline is the
story up to the moment it was made (a snapshot: later cells add nothing to it); a live one (the *live*
button, or ``live=True``) follows the trace, and when the slider is at the end it stays there as steps arrive.
"""

from __future__ import annotations

from typing import Any

import ipywidgets

from labkit.widgets.base import LiveWidget, esc
from labkit.widgets.story import Story, ref_of, story

LANE_W, ROW_H, TOP, MIN_W = 96, 30, 24, 640
CHAR_W = 6.65  # px per character of the widgets' 11px monospace labels (DejaVu Sans Mono: 0.6 em)
#: what else a story of each resource follows (see :func:`labkit.widgets.story.related_objects`)
RELATED = {"deployments": {"deployments", "replicasets", "pods"}, "replicasets": {"replicasets", "pods"},
           "services": {"services", "endpoints", "endpointslices"}}
KIND_COLORS = {"request": "#1f5fa8", "store": "#6b4fa0", "watch": "#2e8b57", "schedule": "#b8860b",
               "decision": "#b8860b"}


class Timeline(LiveWidget):
    """``Timeline(cluster, "pod/web")`` (the story so far; ``live=True`` follows it) or
    ``Timeline(story=some_story)`` (fixed)."""

    css_name = "timeline"

    def __init__(self, cluster: Any = None, obj: Any = None, *, story: Story | None = None,
                 namespace: str = "default", live: bool = False, interval_ms: int = 600, **kwargs: Any) -> None:
        if (cluster is None) == (story is None):
            raise ValueError("pass a cluster and an object, or a story")
        self.play = ipywidgets.Play(min=0, max=0, value=0, step=1, interval=interval_ms, description="replay")
        self.slider = ipywidgets.IntSlider(min=0, max=0, value=0, description="step", continuous_update=True)
        self.step_button = ipywidgets.Button(description="step", tooltip="show one more step", icon="step-forward")
        ipywidgets.jslink((self.play, "value"), (self.slider, "value"))
        ipywidgets.jslink((self.play, "max"), (self.slider, "max"))
        super().__init__(controls=[ipywidgets.HBox([self.play, self.slider, self.step_button])],
                         live=live and cluster is not None, toggle=cluster is not None, **kwargs)
        self.cluster = cluster
        self.ref = ref_of(obj, namespace=namespace) if cluster is not None else None
        self.story = story or Story((), ())
        self.slider.observe(lambda _: self.redraw(), names="value")
        self.step_button.on_click(lambda _: self.step())
        if self.live:
            self.sources()
        self.refresh()

    def sources(self) -> None:
        if self.ref is not None:
            related = RELATED.get(self.ref.resource, {self.ref.resource})
            ns = self.ref.namespace
            self.follow(self.cluster.trace, lambda r: r.namespace == ns and r.resource.partition("/")[0] in related)

    def moment(self) -> str:
        return f"{len(self.story.steps)} steps so far"

    @property
    def position(self) -> int:
        """How many steps the diagram shows."""
        return self.slider.value

    def step(self, n: int = 1) -> None:
        """Show ``n`` more steps (what the step button does)."""
        self.slider.value = min(self.slider.value + n, self.slider.max)

    def collect(self) -> None:
        if self.cluster is not None:
            self.story = story(self.cluster, self.ref)
        at_end = self.slider.value == self.slider.max
        n = len(self.story.steps)
        self.play.max = self.slider.max = n  # set both: jslink only syncs in a browser
        if at_end or self.slider.value > n:
            self.slider.value = self.play.value = n

    def summary(self) -> str:
        what = ", ".join(map(str, self.story.objects)) or "empty"
        return f"Timeline({what}, steps={len(self.story.steps)}, step={self.position})"

    def text(self) -> str:
        lines = self.story.text().splitlines()
        return "\n".join([self.summary(), *lines[1:self.position + 1]])

    def render(self) -> str:
        lanes = self.story.lanes
        shown = self.story.steps[:self.position]
        x = {lane: 10 + LANE_W // 2 + i * LANE_W for i, lane in enumerate(lanes)}
        width = max(20 + len(lanes) * LANE_W, MIN_W)
        chars = int((width - 8) / CHAR_W)  # a step's line runs across the whole diagram, above its arrow
        # names wider than a lane take turns on two lines
        stagger = any(len(lane) * CHAR_W > LANE_W - 6 for lane in lanes)
        top = TOP + (14 if stagger else 0)
        height = top + (len(shown) + 1) * ROW_H
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
               f'class="labkit-timeline-svg"><defs><marker id="lk-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
               f'markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" '
               f'fill="context-stroke"/></marker></defs>']
        for i, lane in enumerate(lanes):
            y = 14 + (14 if stagger and i % 2 else 0)
            out.append(f'<text x="{x[lane]}" y="{y}" text-anchor="middle" font-weight="bold">{esc(lane)}</text>'
                       f'<line x1="{x[lane]}" y1="{y + 6}" x2="{x[lane]}" y2="{height}" stroke="#ccc"/>')
        for i, s in enumerate(shown):
            y = top + i * ROW_H + ROW_H - 8  # the arrow; its line of text above it
            color = KIND_COLORS.get(s.kind, "#444")
            line = _label(f"{i + 1}. {s.summary}", chars)
            out.append(f'<g class="labkit-step" data-kind="{esc(s.kind)}"><title>{esc(s.summary)}</title>'
                       f'<text x="4" y="{y - 8}" fill="{color}" paint-order="stroke" stroke="#fff" '
                       f'stroke-width="3">{esc(line)}</text>')
            if s.source == s.target:
                out.append(f'<rect x="{x[s.source] - LANE_W // 2 + 6}" y="{y - 4}" width="{LANE_W - 12}" height="8" '
                           f'rx="3" fill="#fff7e0" stroke="{color}"/>')
            else:
                dash = ' stroke-dasharray="5 3"' if s.kind == "watch" else ""
                out.append(f'<line x1="{x[s.source]}" y1="{y}" x2="{x[s.target]}" y2="{y}" stroke="{color}" '
                           f'stroke-width="1.5" marker-end="url(#lk-arrow)"{dash}/>')
            out.append("</g>")
        out.append("</svg>")
        caption = esc(shown[-1].summary) if shown else "no steps yet"
        return (f'<div style="overflow-x:auto">{"".join(out)}</div>'
                f'<div class="labkit-caption" style="overflow-wrap:anywhere">{self.position}/{len(self.story.steps)}: '
                f"{caption}</div>")


def _label(text: str, chars: int) -> str:
    """``text`` cut to ``chars`` characters with an ellipsis (the step's tooltip and caption keep it whole)."""
    return text if len(text) <= chars else text[:chars - 1] + "…"
