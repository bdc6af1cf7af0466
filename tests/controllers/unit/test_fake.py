"""labkit.testing itself: the fake client answers as the API server would, informers hear what a test
delivers, the fake clock moves only when stepped, and drain works a controller's queue until empty."""

from __future__ import annotations

import asyncio

import pytest

from labkit.client import APIStatusError, resource_path
from labkit.controllers import Controller
from labkit.testing import Action, FakeClient, FakeClock, FakeInformers, fail
from labkit.testing.clock import EPOCH

from .objects import NS, configmap, deployment, namespace, pod, replicaset

PODS = resource_path("v1", "pods", namespace=NS)


def run(coro):
    return asyncio.run(coro)


def test_an_action_equals_its_five_fields_as_a_tuple():
    a = Action("patch", "pods/status", NS, "web", {"status": {}}, patch_type="application/merge-patch+json")
    assert a == ("patch", "pods/status", NS, "web", {"status": {}})
    assert (a.plural, a.subresource) == ("pods", "status")
    assert a != Action("patch", "pods/status", NS, "web", {"status": {}}, patch_type="application/json-patch+json")
    assert repr(a) == ("Action('patch', 'pods/status', 'default', 'web', {'status': {}}, "
                       "patch_type='application/merge-patch+json')")


def test_requests_are_recorded_with_verb_resource_namespace_name_and_body():
    c = FakeClient()

    async def main():
        await c.create(PODS, {"metadata": {"generateName": "web-"}, "spec": {}})
        await c.get(PODS, labelSelector="app=web")
        await c.patch(f"{PODS}/x", {"a": 1}, patch_type="application/strategic-merge-patch+json")
    with pytest.raises(APIStatusError):
        run(main())
    assert c.actions() == [("create", "pods", NS, "", {"metadata": {"generateName": "web-"}, "spec": {}}),
                           ("list", "pods", NS, "", None),
                           ("patch", "pods", NS, "x", {"a": 1})]
    assert c.actions()[1].params == {"labelSelector": "app=web"}
    assert c.actions()[2].patch_type == "application/strategic-merge-patch+json"


def test_create_fills_in_what_the_api_server_would():
    clock = FakeClock()
    c = FakeClient(clock=clock, seed=1)

    async def main():
        p = await c.create(PODS, {"metadata": {"generateName": "web-"}})
        d = await c.create(resource_path("apps/v1", "deployments", namespace=NS), deployment())
        cm = await c.create(resource_path("v1", "configmaps", namespace=NS), configmap("cm"))
        return p, d, cm
    p, d, cm = run(main())
    assert p["metadata"]["name"].startswith("web-") and len(p["metadata"]["name"]) == 9
    assert p["metadata"]["namespace"] == NS and p["metadata"]["uid"] and p["kind"] == "Pod"
    assert p["metadata"]["creationTimestamp"] == "2026-01-01T12:00:00Z"
    assert d["metadata"]["generation"] == 1 and "generation" not in cm["metadata"], "as each kind's strategy says"
    assert int(d["metadata"]["resourceVersion"]) == int(p["metadata"]["resourceVersion"]) + 1
    assert FakeClient(clock=clock, seed=1).tracker.ids.suffix("pods/default/web-") == p["metadata"]["name"][4:], \
        "the same seed, the same names"


@pytest.mark.parametrize("code, reason", [(409, "AlreadyExists"), (404, "NotFound")])
def test_errors_are_the_api_servers(code, reason):
    c = FakeClient([pod("web")])

    async def main():
        if code == 409:
            await c.create(PODS, pod("web"))
        else:
            await c.get(f"{PODS}/nope")
    with pytest.raises(APIStatusError) as e:
        run(main())
    assert (e.value.code, e.value.reason) == (code, reason)
    assert e.value.status["message"] == ('pods "web" already exists' if code == 409 else 'pods "nope" not found')


def test_an_update_with_a_stale_resource_version_is_a_conflict_and_status_is_a_subresource():
    rs = replicaset(status={"replicas": 1})
    c = FakeClient([rs])
    path = resource_path("apps/v1", "replicasets", namespace=NS, name="web")

    async def main():
        stored = await c.get(path)
        changed = await c.update(path, {**stored, "spec": {**stored["spec"], "replicas": 5}, "status": {"replicas": 9}})
        assert changed["spec"]["replicas"] == 5 and changed["status"] == {"replicas": 1}, "PUT keeps the status"
        assert changed["metadata"]["generation"] == 2, "a spec change is a new generation"
        with pytest.raises(APIStatusError) as e:
            await c.update(path, stored)  # the old resourceVersion
        assert e.value.code == 409 and e.value.reason == "Conflict"
        status = await c.update(f"{path}/status", {**changed, "spec": {}, "status": {"replicas": 5}})
        assert status["spec"]["replicas"] == 5 and status["status"] == {"replicas": 5}, "/status changes only status"
        again = await c.update(f"{path}/status", status)
        assert again["metadata"]["resourceVersion"] == status["metadata"]["resourceVersion"], "unchanged: not written"
    run(main())
    assert [change for change, *_ in c.tracker.take_changes()] == ["MODIFIED", "MODIFIED"]


def test_patches_of_every_kind_a_controller_sends():
    c = FakeClient([pod("web", labels={"app": "web", "tier": "front"})])
    path = f"{PODS}/web"

    async def main():
        await c.patch(path, {"metadata": {"labels": {"tier": None}}})
        await c.patch(f"{path}/status", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
                      patch_type="application/strategic-merge-patch+json")
        await c.patch(path, [{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}],
                      patch_type="application/json-patch+json")
        with pytest.raises(APIStatusError) as e:
            await c.patch(path, {"metadata": {"uid": "another"}})
        assert e.value.code == 422, "a patch cannot change the uid"
        return await c.get(path)
    p = run(main())
    assert p["metadata"]["labels"] == {"app": "web"} and p["metadata"]["annotations"] == {"a": "b"}
    assert p["status"]["conditions"] == [{"type": "Ready", "status": "False", "lastTransitionTime":
                                          "2026-01-01T11:00:00Z"}], "merged by type, as the pod's schema says"


def test_delete_with_preconditions_propagation_and_finalizers():
    c = FakeClient([pod("web"), replicaset("rs"), configmap("held", finalizers=["example.com/hold"])])

    async def main():
        with pytest.raises(APIStatusError) as e:
            await c.delete(f"{PODS}/web", {"preconditions": {"uid": "someone-else"}})
        assert e.value.code == 409 and "Precondition failed: UID in precondition" in e.value.status["message"]
        await c.delete(f"{PODS}/web", {"preconditions": {"uid": "uid-web"}})
        rs_path = resource_path("apps/v1", "replicasets", namespace=NS, name="rs")
        marked = await c.delete(rs_path, {"propagationPolicy": "Foreground"})
        assert marked["metadata"]["finalizers"] == ["foregroundDeletion"] and marked["metadata"]["deletionTimestamp"]
        cm_path = resource_path("v1", "configmaps", namespace=NS, name="held")
        held = await c.delete(cm_path)
        assert held["metadata"]["deletionTimestamp"] == "2026-01-01T12:00:00Z"
        await c.update(cm_path, {**held, "metadata": {**held["metadata"], "finalizers": []}})
        with pytest.raises(APIStatusError):
            await c.get(cm_path)
    run(main())
    assert c.tracker.objects("v1", "pods") == []


def test_a_namespace_goes_terminating_and_is_removed_once_finalized():
    c = FakeClient([namespace("doomed")])

    async def main():
        ns = await c.delete("/api/v1/namespaces/doomed")
        assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
        await c.update("/api/v1/namespaces/doomed/finalize", {**ns, "spec": {"finalizers": []}})
    run(main())
    assert c.tracker.objects("v1", "namespaces") == []


def test_lists_filter_by_namespace_label_and_field_selector():
    c = FakeClient([pod("a", labels={"app": "web"}, node="n1"), pod("b", labels={"app": "db"}, node="n1"),
                    pod("c", labels={"app": "web"}, node="n2"), pod("d", namespace="other")])

    def names(**params):
        return [p["metadata"]["name"] for p in run(c.get(PODS, **params))["items"]]
    assert names() == ["a", "b", "c"]
    assert names(labelSelector="app=web") == ["a", "c"]
    assert names(labelSelector="app in (web,db)", fieldSelector="spec.nodeName=n1") == ["a", "b"]
    assert [p["metadata"]["name"] for p in run(c.get("/api/v1/pods"))["items"]] == ["a", "b", "c", "d"]


def test_scale_reads_and_writes_spec_replicas():
    c = FakeClient([deployment(replicas=2)])
    path = resource_path("apps/v1", "deployments", namespace=NS, name="web", subresource="scale")

    async def main():
        scale = await c.get(path)
        assert (scale["kind"], scale["spec"], scale["status"]["selector"]) == ("Scale", {"replicas": 2}, "app=web")
        await c.patch(path, {"spec": {"replicas": 5}})
        return await c.get(resource_path("apps/v1", "deployments", namespace=NS, name="web"))
    assert run(main())["spec"]["replicas"] == 5


def test_reactors_come_before_the_tracker_and_match_verb_and_resource():
    c = FakeClient([pod("web")])
    c.prepend_reactor("update", "pods", fail(409, times=1))
    c.prepend_reactor("get", "*", lambda a: {"answered": a.name} if a.name == "special" else None)
    path = f"{PODS}/web"

    async def main():
        p = await c.get(path)
        with pytest.raises(APIStatusError) as e:
            await c.update(path, p)
        assert e.value.code == 409
        await c.update(path, p)  # once only
        await c.update(f"{path}/status", p)  # "pods" does not match "pods/status"
        return await c.get(f"{PODS}/special")
    assert run(main()) == {"answered": "special"}


def test_discovery_is_the_api_servers_and_recorded_as_client_gos_fake_discovery():
    c = FakeClient()
    groups = run(c.get("/apis"))
    resources = run(c.get("/api/v1"))
    assert "apps" in {g["name"] for g in groups["groups"]}
    assert {"pods", "pods/status", "namespaces/finalize"} <= {r["name"] for r in resources["resources"]}
    assert c.actions() == [("get", "group", "", "", None), ("get", "resource", "", "v1", None)]
    assert c.actions(discovery=False) == []


def test_informers_are_filled_at_start_and_hear_only_what_is_delivered():
    c = FakeClient([pod("a"), pod("b")])
    informers = FakeInformers(c)
    pods = informers.get("v1", "pods")
    heard = []
    pods.add_handlers(on_add=lambda p: heard.append(("add", p["metadata"]["name"])),
                      on_update=lambda _o, p: heard.append(("update", p["metadata"]["name"])),
                      on_delete=lambda p: heard.append(("delete", p["metadata"]["name"])))
    run(informers.start())
    assert pods.synced.is_set() and heard == [("add", "a"), ("add", "b")]
    run(c.delete(f"{PODS}/a"))
    run(c.patch(f"{PODS}/b", {"metadata": {"labels": {"x": "y"}}}))
    assert pods.get(f"{NS}/a") is not None, "no watch: the cache is as it was"
    assert informers.deliver() == 2
    assert heard[2:] == [("delete", "a"), ("update", "b")] and pods.get(f"{NS}/a") is None
    informers.add(pod("ghost"), notify=False)  # a cache ahead of the server
    assert pods.get(f"{NS}/ghost") is not None and len(heard) == 4
    late = informers.get("v1", "configmaps")
    assert late.synced.is_set(), "an informer asked for after the start is listed at once"


def test_the_fake_clock_fires_timers_in_order_at_their_time():
    clock = FakeClock()
    fired = []
    clock.call_later(2, lambda: fired.append(("b", clock.monotonic())))
    clock.call_later(1, lambda: fired.append(("a", clock.monotonic())))
    cancelled = clock.call_later(1.5, lambda: fired.append(("never", 0)))
    cancelled.cancel()
    assert clock.waiters() == [1, 2]
    clock.step(1.9)
    assert fired == [("a", 1)] and clock.waiters() == [pytest.approx(0.1)]
    clock.step(5)
    assert fired == [("a", 1), ("b", 2)] and clock.monotonic() == 6.9
    assert (clock.now() - EPOCH).total_seconds() == pytest.approx(6.9)

    async def sleeper():
        task = asyncio.ensure_future(clock.sleep(10))
        await asyncio.sleep(0)
        assert not task.done()
        clock.step(10)
        await task
    run(sleeper())


class Restless(Controller):
    """A controller that writes on every sync, so its own writes bring it back forever."""

    name = "restless"
    watches = [("v1", "configmaps")]

    async def reconcile(self, key):
        ns, name = key.split("/")
        cm = self.informer("v1", "configmaps").get(key)
        await self.client.patch(resource_path("v1", "configmaps", namespace=ns, name=name),
                                {"data": {"n": str(int((cm.get("data") or {}).get("n", "0")) + 1)}})


def test_drain_names_a_controller_that_never_settles(harness):
    h = harness(Restless, [configmap("hot")])
    with pytest.raises(AssertionError, match="restless did not settle after 20 syncs"):
        h.drain(watch=True, max_syncs=20)
