"""What every labkit widget has in common: an HTML view that never prints, never blocks, and says
whether it shows one moment or follows the cluster.

labkit's own (Kubernetes has no notebook UI). A :class:`LiveWidget` is an ipywidgets 8 ``VBox``
whose last child is an ``HTML`` widget showing :meth:`LiveWidget.render` (HTML or inline SVG the
widget builds itself, so it works offline with no extra JavaScript). Subclasses may put controls
(buttons, a ``Play``/``IntSlider`` pair) in front of it.

Snapshot or live: a view shown under a cell that did something should go on showing what that cell
did, not what later cells made of the cluster (after *Run All* every view would otherwise show the
end). A widget made with ``live=False`` is a **snapshot**: it reads its sources once and its first
line says so, with the time (and, where it has one, the store revision) it was taken. With
``live=True`` it follows its sources and says **live**. Widgets made with ``toggle=True`` carry a
*live* button that switches between the two (:meth:`LiveWidget.set_live`); those whose sources are
subscriptions subscribe in :meth:`LiveWidget.sources`.

How live updates reach the notebook without disturbing it:

- a source (``cluster.trace``, a store watch) calls :meth:`LiveWidget.invalidate` from its own
  thread; that only marks the widget dirty, so the cluster's event loop never renders anything;
- one daemon thread (:class:`_Refresher`) refreshes dirty widgets, each at most ``max_rate`` times a
  second, by setting ``HTML.value`` and other traits. Trait changes travel as comm messages, which
  nbval ignores and ipykernel sends safely from any thread; nothing writes to stdout or to an
  ``Output`` widget, so no text lands in whichever cell happens to be running;
- errors while refreshing are logged at DEBUG level (a WARNING would reach the cell's stderr).

Every widget has a short, deterministic ``__repr__`` (nbval compares ``text/plain``), a longer
deterministic :meth:`LiveWidget.text`, and ``_repr_html_`` (the static rendering, also put in the
MIME bundle next to the widget view for viewers without a widget manager).
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import ipywidgets

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the identity the widgets' own informers use (their watch events are no part of a story)
WIDGET_USER = "labkit:widgets"
# Pod phases (and node conditions) → fill colours, shared by every widget so a phase looks the same everywhere.
PHASE_COLORS = {
    "Pending": "#f0ad4e",
    "Running": "#5cb85c",
    "Succeeded": "#5bc0de",
    "Failed": "#d9534f",
    "Unknown": "#999999",
    "Terminating": "#a569bd",
    "Ready": "#5cb85c",
    "NotReady": "#d9534f",
}
CSS = (".labkit-widget svg text{font-family:monospace;font-size:11px}"
       # the view takes the output area's width, no more: what cannot wrap scrolls inside it
       ".labkit-widget .widget-html-content{min-width:0;max-width:100%;overflow-x:auto}"
       ".labkit-widget table{border-collapse:collapse;font-family:monospace;font-size:12px}"
       ".labkit-widget td,.labkit-widget th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
       ".labkit-widget .labkit-problem{color:#a40000;overflow-wrap:anywhere}"
       ".labkit-widget .labkit-when{font-family:sans-serif;font-size:12px;color:#555;margin:2px 0 4px}"
       ".labkit-widget .labkit-when b{color:#fff;border-radius:3px;padding:0 5px;margin-right:4px}"
       ".labkit-widget .labkit-when.live b{background:#2e8b57}.labkit-widget .labkit-when.snapshot b{background:#557}")


def esc(value: object) -> str:
    """HTML-escape any value (for text and attribute values)."""
    return html.escape(str(value), quote=True)


def esc_wrap(value: object, *, camel: bool = False, after: str = "/_,") -> str:
    """:func:`esc`, with line-break opportunities after each character of ``after``, before ``(``
    (and with ``camel`` inside CamelCase, for column headers such as plugin names), so that a long
    name (a taint, a store key) wraps in a narrow cell where it reads best instead of being cut."""
    out = esc(value)
    if camel:
        out = re.sub(r"(?<=[a-z])(?=[A-Z])", "<wbr>", out)
    for ch in after:
        out = out.replace(ch, ch + "<wbr>")
    return out.replace("(", "<wbr>(")


def table(header: Iterable[str], rows: Iterable[Iterable[object]], *, css_class: str = "") -> str:
    """A plain HTML table; cells are escaped."""
    head = "".join(f"<th>{esc_wrap(h, camel=True)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc_wrap(c)}</td>" for c in row) + "</tr>" for row in rows)
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def on_loop(cluster: Any, fn: Callable[[], T], timeout: float = 10) -> T:
    """Run the plain function ``fn`` on the cluster's event loop and return its result.

    For reading state that only the loop mutates (the store, a component's memory) from a notebook
    or the refresher thread without racing the loop. Never call it from the loop itself."""
    async def call() -> T:
        return fn()
    return cluster.run(call(), timeout=timeout)


def stored_objects(cluster: Any, *plurals: str, namespace: str = "") -> dict[str, list[dict[str, Any]]]:
    """The stored objects of each resource ``plural`` (decoded JSON, sorted by key), read from the
    store on the cluster's loop. Widgets read here rather than through the API server so that
    looking adds nothing to the trace they follow."""
    return stored_at(cluster, *plurals, namespace=namespace)[1]


def stored_at(cluster: Any, *plurals: str, namespace: str = "",
              revision: int = 0) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """The store revision read at and, as :func:`stored_objects`, the objects of each ``plural``
    as they were at ``revision`` (0: now), all read at one revision. Raises
    :class:`labkit.store.Compacted` when that history is gone."""
    from labkit.apiserver.resources import RESOURCES

    by_plural = {r.plural: r for r in RESOURCES if r.stored}
    store = cluster.store
    if store is None:
        raise RuntimeError("the cluster is not started: call start() first")

    def read() -> tuple[int, dict[str, list[dict[str, Any]]]]:
        at = revision or store.revision
        out = {}
        for plural in plurals:
            prefix = by_plural[plural].key_prefix(namespace or None)
            out[plural] = [json.loads(kv.value) for kv in store.range(prefix, prefix=True, revision=at).kvs]
        return at, out
    return on_loop(cluster, read)


class LiveWidget(ipywidgets.VBox):
    """Base class. Subclasses implement :meth:`collect` (read their sources into plain data),
    :meth:`render` (HTML from that data), :meth:`text` and :meth:`summary` (deterministic text);
    those that can be snapshots subscribe to their sources in :meth:`sources`."""

    max_rate: float = 10.0  # at most this many live refreshes per second
    css_name: str = "widget"  # adds the CSS class ``labkit-<css_name>`` (browser tests select on it)

    def __init__(self, *, controls: Iterable[ipywidgets.Widget] = (), live: bool = True, toggle: bool = False,
                 **kwargs: Any) -> None:
        self.view = ipywidgets.HTML()
        self.live_button: ipywidgets.ToggleButton | None = None
        if toggle:
            self.live_button = ipywidgets.ToggleButton(
                value=live, description="live", icon="play", layout=ipywidgets.Layout(width="auto", flex="0 0 auto"),
                tooltip="on: follow the cluster as it changes; off: keep the moment shown")
            controls = [ipywidgets.HBox([self.live_button, *controls], layout=ipywidgets.Layout(flex_flow="row wrap"))]
        super().__init__(children=[*controls, self.view], **kwargs)
        self.add_class("labkit-widget")
        self.add_class(f"labkit-{self.css_name}")
        self._lock = threading.RLock()
        self._closers: list[Callable[[], Any]] = []
        self._following: list[Callable[[], Any]] = []  # the subscriptions of live mode
        self._last_refresh = 0.0
        self.refreshes = 0  # how many times the view was re-rendered (tests check the throttle with it)
        self.live = live
        self.stopped = False  # the cluster stopped: the view keeps its last frame
        self.taken = 0.0  # time.time() of the last collect: the moment a snapshot shows
        if self.live_button is not None:
            self.live_button.observe(lambda change: self.set_live(change["new"]), names="value")

    # --- what subclasses implement --------------------------------------------------------------

    def collect(self) -> None:
        """Read the sources into this widget's model (called before each render)."""

    def render(self) -> str:
        """HTML (or inline SVG) for the current model; must not read live sources."""
        raise NotImplementedError

    def summary(self) -> str:
        """A one-line, deterministic description (the ``__repr__``); keep it under 110 characters."""
        return type(self).__name__

    def text(self) -> str:
        """A full, deterministic plain-text rendering (no times or uids unless seeded; sorted)."""
        return self.summary()

    def sources(self) -> None:
        """Subscribe to the sources live mode follows (with :meth:`follow`); called on going live."""

    def moment(self) -> str:
        """What identifies the moment a snapshot shows besides its time (e.g. ``store revision 42``)."""
        return ""

    def when(self) -> str:
        """The view's first line: ``live``, ``snapshot`` as of a time, or ``stopped``; and how to switch."""
        if self.stopped:
            at = time.strftime("%H:%M:%S", time.localtime(self.taken)) if self.taken else "-"
            return (f'<div class="labkit-when snapshot"><b>stopped</b>the cluster has stopped: its last view, '
                    f"as of {at}</div>")
        if self.live:
            switch = " (turn <i>live</i> off to keep this moment)" if self.live_button else ""
            return f'<div class="labkit-when live"><b>live</b>follows the cluster as it changes{switch}</div>'
        at = time.strftime("%H:%M:%S", time.localtime(self.taken)) if self.taken else "-"
        moment = f", {esc(self.moment())}" if self.moment() else ""
        switch = " (press <i>live</i> to follow the cluster)" if self.live_button else ""
        return f'<div class="labkit-when snapshot"><b>snapshot</b>as of {at}{moment}{switch}</div>'

    # --- updates --------------------------------------------------------------------------------

    def refresh(self) -> LiveWidget:
        """Re-read the sources and re-render now (from any thread but the cluster's loop). Once the
        cluster stopped, it only redraws the last model, saying so."""
        with self._lock:
            if self.stopped:
                self._unfollow()
                if self.live_button is not None:
                    self.live_button.disabled = True
            else:
                self.collect()
                self.taken = time.time()
            self._show()
        return self

    def cluster_stopped(self) -> None:
        """The cluster stopped (any thread, the loop's too): nothing will update this view again. The
        refresher redraws it once from its model, saying so (this thread takes no lock)."""
        self.stopped = True
        _refresher.mark(self)

    def set_live(self, live: bool = True) -> LiveWidget:
        """Follow the sources (``True``), or stop and keep the moment shown as a snapshot (``False``)."""
        with self._lock:
            if live and not self.live and not self.stopped:
                self.live = True
                self.sources()
                self.refresh()
            elif not live and self.live:
                self._unfollow()
                self._show()
        if self.live_button is not None and self.live_button.value != self.live:
            self.live_button.value = self.live
        return self

    def _unfollow(self) -> None:
        self.live = False
        following, self._following = self._following, []
        for fn in following:
            fn()
        _refresher.forget(self)

    def redraw(self) -> None:
        """Re-render from the current model without reading the sources (e.g. when a slider moves)."""
        with self._lock:
            self._show()

    def _show(self) -> None:
        value = f"<style>{CSS}</style>" + self.when() + self.render()
        if value != self.view.value:
            self.view.value = value
        self.refreshes += 1
        self._last_refresh = time.monotonic()

    def invalidate(self, *_: Any) -> None:
        """Mark this widget out of date; the refresher re-renders it soon (cheap, any thread). A
        snapshot ignores it: it keeps its moment."""
        if self.live:
            _refresher.mark(self)

    def follow(self, trace: Any, predicate: Callable[[Any], bool] | None = None) -> None:
        """Refresh (throttled) whenever ``trace`` records something ``predicate`` accepts (until the
        widget closes or stops being live)."""
        def on_record(record: Any) -> None:
            if predicate is None or predicate(record):
                self.invalidate()
        self._following.append(trace.subscribe(on_record))

    def on_close(self, fn: Callable[[], Any]) -> None:
        """Call ``fn`` (an unsubscribe, a watch cancel) when the widget closes."""
        self._closers.append(fn)

    def close(self) -> None:
        """Stop following every source and close the widget and its children."""
        closers, self._closers, self._following = [*self._following, *self._closers], [], []
        for fn in closers:
            try:
                fn()
            except Exception:  # a source that is already gone is fine
                log.debug("closing %s", type(self).__name__, exc_info=True)
        _refresher.forget(self)
        for child in self.children:
            child.close()
        super().close()

    # --- reprs ----------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        with self._lock:
            return (f'<div class="labkit-widget labkit-{self.css_name}"><style>{CSS}</style>{self.when()}'
                    f"{self.render()}</div>")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = {"text/plain": repr(self), "text/html": self._repr_html_()}
        if self._view_name is not None and self._model_id is not None:
            data["application/vnd.jupyter.widget-view+json"] = {"version_major": 2, "version_minor": 0,
                                                                 "model_id": self._model_id}
        return data


class _Refresher:
    """One daemon thread that re-renders dirty widgets, each at most ``max_rate`` times a second."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._dirty: weakref.WeakKeyDictionary[LiveWidget, None] = weakref.WeakKeyDictionary()
        self._thread: threading.Thread | None = None

    def mark(self, widget: LiveWidget) -> None:
        with self._cond:
            self._dirty[widget] = None
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="labkit-widgets", daemon=True)
                self._thread.start()
            self._cond.notify()

    def forget(self, widget: LiveWidget) -> None:
        with self._cond:
            self._dirty.pop(widget, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._dirty:
                    self._cond.wait()
                now = time.monotonic()
                due = [w for w in self._dirty if now - w._last_refresh >= 1 / w.max_rate]
                if not due:
                    wake = min(w._last_refresh + 1 / w.max_rate for w in self._dirty)
                    self._cond.wait(max(wake - now, 0.001))
                    continue
                for w in due:
                    del self._dirty[w]
            for w in due:
                try:
                    if w.live or w.stopped:  # not switched to a snapshot meanwhile
                        w.refresh()
                except Exception:  # e.g. the cluster stopped mid-read; keep the thread alive
                    log.debug("refreshing %s failed", type(w).__name__, exc_info=True)


_refresher = _Refresher()
