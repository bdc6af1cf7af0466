"""StoreView: keys with revisions, a value as YAML, the watch feed, compaction."""

from __future__ import annotations

import asyncio
import json
import re
import types

from labkit import Cluster
from labkit.store import open_store
from labkit.widgets import StoreView

from .conftest import create_pod, wait_for


def test_keys_revisions_value_watch_and_compaction(cluster: Cluster) -> None:
    view = StoreView(cluster, prefix="/registry/pods/")
    assert view.count == 0 and "no watch events yet" in view.view.value
    create_pod(cluster, "web")
    wait_for(lambda: view.feed and view.kvs)
    kv = view.kvs[0]
    assert kv.key == "/registry/pods/default/web" and kv.version >= 1 and kv.create_revision <= kv.mod_revision
    assert view.feed[0] == ("PUT", "/registry/pods/default/web", kv.create_revision)
    view.select.value = "/registry/pods/default/web"
    assert "kind: Pod" in view.value_yaml() and "name: web" in view.view.value
    # the row's columns: key, create_revision, mod_revision, version (the scheduler and the sim kubelet
    # may still be writing the pod, so only the create revision is fixed)
    row = re.fullmatch(r"/registry/pods/default/web  (\d+)  (\d+)  (\d+)", view.text().splitlines()[2])
    assert row is not None and int(row[1]) == kv.create_revision <= int(row[2]) and int(row[3]) >= 1
    before = cluster.store.revision
    view.compact_button.click()  # compacts at the revision of that moment: node heartbeats may have written since
    rev = view.compacted
    assert before <= rev == cluster.store.compact_revision <= cluster.store.revision
    assert f"compacted revision <b>{rev}</b>" in view.view.value
    assert repr(view).endswith(f"compacted={rev}, key=/registry/pods/default/web)")
    view.close()


def test_same_writes_same_text() -> None:
    """The view's text depends only on what the store holds (a bare store: no cluster start-up writes)."""
    texts = []
    for _ in range(2):
        store = open_store("memory")
        fake = types.SimpleNamespace(store=store, run=lambda coro, timeout=None: asyncio.run(coro))
        store.put("/registry/pods/default/b", json.dumps({"kind": "Pod", "metadata": {"name": "b"}}).encode())
        store.put("/registry/pods/default/a", b"{}")
        store.put("/registry/pods/default/b", json.dumps({"kind": "Pod", "metadata": {"name": "b2"}}).encode())
        view = StoreView(fake, prefix="/registry/pods/", key="/registry/pods/default/b", live=False)
        texts.append((repr(view), view.text(), view.render()))
        assert view.value_yaml() == "kind: Pod\nmetadata:\n  name: b2\n"
        view.close()
    assert texts[0] == texts[1]
    assert texts[0][1].splitlines()[2:] == ["/registry/pods/default/a  3  3  1", "/registry/pods/default/b  2  4  2"]


def test_long_keys_break_at_their_separators_and_the_table_may_take_a_row_of_its_own(cluster: Cluster) -> None:
    """RBAC keys are long runs of ``:`` and ``.``: each gives the browser a place to break the key, and
    etcd's field names break after ``_``, so the keys table narrows instead of being cut; its box may
    wrap under the feed's when the output is narrow (flex-wrap), and scrolls inside itself at worst."""
    view = StoreView(cluster, prefix="/registry/clusterroles/system:certificates", live=False)
    html = view.render()
    assert ("/<wbr>registry/<wbr>clusterroles/<wbr>system:<wbr>certificates.<wbr>k8s.<wbr>io:<wbr>"
            "certificatesigningrequests:<wbr>selfnodeclient") in html
    assert "<th>create_<wbr>revision</th>" in html and "<th>mod_<wbr>revision</th>" in html
    assert "flex-wrap:wrap" in html and "min-width:0;max-width:100%;max-height:320px;overflow:auto" in html
    assert "<b>snapshot</b>" in view.view.value
    view.close()
