"""What the API server keeps in etcd: keys, revisions, one value, the watch feed, compaction.

Shows etcd's MVCC model as ``etcdctl get --prefix -w json`` and ``etcdctl watch`` would, over
:class:`labkit.store.Store`: every key under a prefix with its ``create_revision``,
``mod_revision`` and ``version``; the selected key's value as YAML (labkit stores JSON, the real
API server protobuf); a live feed of the store's watch events (``PUT``/``DELETE`` with the
revision); and a button that compacts history up to the current revision (what kube-apiserver
does every five minutes), after which watches from older revisions get ``410 Gone``.
Left out: leases, range at an older revision, defragmentation.
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Any

import ipywidgets
import yaml

from labkit.store import KeyValue
from labkit.widgets.base import LiveWidget, esc, esc_wrap, on_loop

#: where a store key may break across lines (RBAC names are long runs of ``:`` and ``.``)
KEY_BREAKS = "/_,:."


class StoreView(LiveWidget):
    """``StoreView(cluster, prefix="/registry/pods/")``: the keys, one value, the watch feed."""

    css_name = "store-view"

    def __init__(self, cluster: Any, *, prefix: str = "/registry/", key: str = "", live: bool = True,
                 max_keys: int = 200, feed_size: int = 20, **kwargs: Any) -> None:
        self.select = ipywidgets.Dropdown(description="key", options=[])
        self.compact_button = ipywidgets.Button(description="compact",
                                                tooltip="compact history up to the current revision")
        super().__init__(controls=[ipywidgets.HBox([self.select, self.compact_button])], live=live, **kwargs)
        self.cluster = cluster
        self.prefix = prefix
        self.max_keys = max_keys
        self.kvs: list[KeyValue] = []
        self.count = 0
        self.revision = 0
        self.compacted = 0
        self.value: KeyValue | None = None
        self.feed: collections.deque[tuple[str, str, int]] = collections.deque(maxlen=feed_size)
        self._feed_lock = threading.Lock()
        self._wanted = key
        self.select.observe(self._on_select, names="value")
        self.compact_button.on_click(lambda _: self.compact())
        if live:
            handle = on_loop(cluster, lambda: cluster.store.watch(prefix, self._on_events, prefix=True,
                                                                  start_revision=cluster.store.revision + 1))
            self.on_close(lambda: on_loop(cluster, handle.cancel))
        self.refresh()

    def _on_events(self, events: Any) -> None:  # on the cluster's loop: record and mark dirty, nothing else
        with self._feed_lock:
            for e in events:
                self.feed.append((e.type, e.kv.key, e.kv.mod_revision))
        self.invalidate()

    def _on_select(self, change: dict[str, Any]) -> None:
        self._wanted = change["new"] or ""
        self.refresh()

    def compact(self) -> int:
        """Compact the store at its current revision; returns that revision."""
        store = self.cluster.store

        def run() -> int:
            rev = store.revision
            store.compact(rev)
            return rev
        rev = on_loop(self.cluster, run)
        self.refresh()
        return rev

    def collect(self) -> None:
        store, wanted = self.cluster.store, self._wanted

        def read() -> tuple[Any, int, int, KeyValue | None]:
            kvs = store.range(self.prefix, prefix=True, limit=self.max_keys)
            value = store.range(wanted).kvs if wanted else []
            return kvs, store.revision, store.compact_revision, value[0] if value else None
        result, self.revision, self.compacted, self.value = on_loop(self.cluster, read)
        self.kvs, self.count = list(result.kvs), result.count
        keys = [kv.key for kv in self.kvs]
        if self.value is not None and self.value.key not in keys:
            keys.append(self.value.key)
        if list(self.select.options) != [""] + keys:
            self.select.options = ["", *keys]
        if self.select.value != (self.value.key if self.value else ""):
            self.select.value = self.value.key if self.value else ""

    def summary(self) -> str:
        selected = f", key={self.value.key}" if self.value else ""
        return f"StoreView({self.prefix}, keys={self.count}, revision={self.revision}, " \
               f"compacted={self.compacted}{selected})"

    def value_yaml(self) -> str:
        """The selected key's value as YAML ("" when nothing is selected or it was deleted)."""
        if self.value is None:
            return ""
        try:
            return yaml.safe_dump(json.loads(self.value.value), sort_keys=False)
        except ValueError:
            return self.value.value.decode("utf-8", "replace")

    def text(self) -> str:
        """The keys and their revisions (values carry timestamps; read them with :meth:`value_yaml`)."""
        lines = [self.summary(), "KEY  CREATE  MOD  VERSION"]
        lines += [f"{kv.key}  {kv.create_revision}  {kv.mod_revision}  {kv.version}" for kv in self.kvs]
        return "\n".join(lines)

    def render(self) -> str:
        with self._feed_lock:
            feed = list(self.feed)
        head = (f'<p style="overflow-wrap:anywhere">revision <b>{self.revision}</b>, compacted revision '
                f"<b>{self.compacted}</b>, {self.count} keys under <code>{esc(self.prefix)}</code>"
                + (f" (first {len(self.kvs)})" if self.count > len(self.kvs) else "") + "</p>")
        # etcd's field names may break after "_", keys after "/": the table narrows instead of being cut
        fields = "".join(f"<th>{esc_wrap(name)}</th>" for name in
                         ("key", "create_revision", "mod_revision", "version"))
        rows = "".join(f"<tr><td>{esc_wrap(kv.key, after=KEY_BREAKS)}</td><td>{kv.create_revision}</td>"
                       f"<td>{kv.mod_revision}</td><td>{kv.version}</td></tr>" for kv in self.kvs)
        keys = f'<table class="labkit-keys"><thead><tr>{fields}</tr></thead><tbody>{rows}</tbody></table>'
        value = (f'<p style="overflow-wrap:anywhere"><b>{esc(self.value.key)}</b> (mod_revision '
                 f'{self.value.mod_revision})</p><pre style="white-space:pre-wrap;overflow-wrap:anywhere">'
                 f"{esc(self.value_yaml())}</pre>") if self.value else ""
        events = "".join(f"<tr><td>{esc(t)}</td><td>{esc_wrap(k, after=KEY_BREAKS)}</td><td>{r}</td></tr>"
                         for t, k, r in reversed(feed))
        watch = (f"<table><thead><tr><th>event</th><th>key</th><th>revision</th></tr></thead><tbody>{events}</tbody>"
                 "</table>" if feed else "<p>no watch events yet</p>")
        return (f'{head}<div style="display:flex;flex-wrap:wrap;gap:8px 16px;align-items:flex-start">'
                f'<div style="flex:1 1 480px;min-width:0;max-width:100%;max-height:320px;overflow:auto">{keys}</div>'
                f'<div style="flex:1 1 300px;min-width:0;max-width:100%">'
                f'<p style="overflow-wrap:anywhere">watch <code>{esc(self.prefix)}</code> (newest first)</p>'
                f"{watch}</div></div>{value}")
