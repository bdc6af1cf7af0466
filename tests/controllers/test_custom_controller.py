"""The §3.3 example as a learner writes it: a controller with a ``reconcile`` method, run in the cluster."""

import logging

from labkit.client import resource_path
from labkit.controllers import Controller, Result

from .conftest import wait_for


class Greeter(Controller):
    """Every ConfigMap labelled ``greet=yes`` gets ``data.greeting``; reports how often it ran."""

    name = "greeter"
    watches = [("v1", "configmaps")]

    def __init__(self, client):
        super().__init__(client)
        self.seen = []

    async def reconcile(self, key):
        self.seen.append(key)
        cm = self.informer("v1", "configmaps").get(key)
        if cm is None or cm["metadata"].get("labels", {}).get("greet") != "yes":
            return None  # deleted, or not ours
        want = f"hello, {cm['metadata']['name']}"
        if (cm.get("data") or {}).get("greeting") != want:
            ns, name = key.split("/")
            await self.client.patch(resource_path("v1", "configmaps", namespace=ns, name=name),
                                    {"data": {"greeting": want}})
        return Result(requeue_after=60)  # look again later even if nothing changes


def test_custom_controller_reconciles(kcm_cluster, api, ns):
    greeter = kcm_cluster.add(Greeter(kcm_cluster.client_for("greeter", ["system:masters"])))
    path = resource_path("v1", "configmaps", namespace=ns)
    api("POST", path, {"metadata": {"name": "hi", "labels": {"greet": "yes"}}})
    api("POST", path, {"metadata": {"name": "quiet"}})
    cm = wait_for(lambda: (c := api("GET", f"{path}/hi")).get("data") and c, what="greeting")
    assert cm["data"] == {"greeting": "hello, hi"}

    # drift is corrected: the desired state wins
    api("PATCH", f"{path}/hi", {"data": {"greeting": "bye"}}, content_type="application/merge-patch+json")
    wait_for(lambda: api("GET", f"{path}/hi")["data"]["greeting"] == "hello, hi", what="drift corrected")
    assert f"{ns}/quiet" in greeter.seen and "data" not in api("GET", f"{path}/quiet")
    kcm_cluster.run(greeter.stop())


class Broken(Controller):
    """A reconcile with a bug: it fails on every try."""

    name = "broken"
    watches = [("v1", "configmaps")]

    def __init__(self, client):
        super().__init__(client)
        self.tries = 0

    async def reconcile(self, key):
        if key.endswith("/trigger"):
            self.tries += 1
            raise ValueError("no greeting configured")


def test_a_failing_reconcile_warns_once_without_a_traceback(kcm_cluster, api, ns, caplog):
    """Retried with back-off; the learner sees one line about it, not a traceback per retry."""
    broken = kcm_cluster.add(Broken(kcm_cluster.client_for("broken", ["system:masters"])))
    with caplog.at_level(logging.WARNING, logger="labkit.controllers.base"):
        api("POST", resource_path("v1", "configmaps", namespace=ns), {"metadata": {"name": "trigger"}})
        wait_for(lambda: broken.tries >= 3, what="retries")
    lines = [r for r in caplog.records if "no greeting configured" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert lines[0].getMessage() == (f"broken: syncing '{ns}/trigger' failed: ValueError: no greeting configured "
                                     "(retrying; repeats are not logged)")
    kcm_cluster.run(broken.stop())
