"""The resource quota controller (``pkg/controller/resourcequota``, ``ResourceQuotaController``).

Keeps each ResourceQuota's ``status`` true: ``status.hard`` is ``spec.hard``, and ``status.used`` what
the namespace's objects use now, measured with the evaluators admission charges with
(:mod:`labkit.quota`), for exactly the resources ``spec.hard`` names. The ResourceQuota admission
plugin adds to ``status.used`` as it lets objects in; this controller is what gives usage back when
they go. A quota is synced:

- when it is created or its ``spec.hard`` changes (its first sync is what lets admission enforce it);
- when something it counts is deleted, or a pod stops being charged (Succeeded, Failed) or a
  service's usage changes (kube's replenishment controllers);
- every ``resource_quota_sync_period`` (``--resource-quota-sync-period``, 5 minutes), to correct
  what admission charged for a create that then failed.

The status is written with an update of ``/status``: a 409 means another writer (admission) was
first, and the key is retried. Pods, services, configmaps and secrets are read from shared
informers; other ``count/<resource>.<group>`` are listed from the API server at each sync (kube
watches every resource discovery lists; the version read is ``v1``, the only one labkit serves).
Left out: the separate queue for quotas missing usage, the discovery-driven monitors, and
PersistentVolumeClaims.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import Controller, Result
from labkit.informer import Informer
from labkit.quota import (
    LEGACY_COUNTS,
    POD_RESOURCES,
    SERVICE_RESOURCES,
    ZERO,
    Evaluator,
    ResourceList,
    add,
    evaluator_for,
    format_list,
    mask,
    parse_list,
    pod_charged,
    scopes_of,
)

#: what is read from informers: (apiVersion, plural)
INFORMED = (("v1", "pods"), ("v1", "services"), ("v1", "configmaps"), ("v1", "secrets"))


def evaluators(hard: list[str]) -> list[Evaluator]:
    """One evaluator per kind of object the hard resources measure."""
    kinds: dict[tuple[str, str], None] = {}
    for name in hard:
        if name in POD_RESOURCES:
            kinds[("pods", "")] = None
        elif name in SERVICE_RESOURCES:
            kinds[("services", "")] = None
        elif name in LEGACY_COUNTS:
            kinds[(name, "")] = None
        elif name.startswith("count/"):
            plural, _, group = name.removeprefix("count/").partition(".")
            kinds[(plural, group)] = None
    return [evaluator_for(plural, group) for plural, group in kinds]


class ResourceQuotaController(Controller):
    name = "resourcequota-controller"
    watches = [("v1", "resourcequotas")]

    def register(self) -> None:
        self.informer("v1", "resourcequotas").add_handlers(on_add=self.enqueue, on_update=self._quota_updated)
        for api_version, plural in INFORMED:
            self._replenish_on_changes(self.informer(api_version, plural), plural)

    def _quota_updated(self, old: Obj, new: Obj) -> None:
        if parse_list((old.get("spec") or {}).get("hard")) != parse_list((new.get("spec") or {}).get("hard")):
            self.enqueue(new)

    def _replenish_on_changes(self, informer: Informer, plural: str) -> None:
        """Sync the quotas that count ``plural`` when one is deleted, when a pod stops (or starts) being
        charged, or when a service's usage changes."""
        evaluator = evaluator_for(plural)

        def updated(old: Obj, new: Obj) -> None:
            now = self.clock.now()
            if plural == "pods" and pod_charged(old, now) != pod_charged(new, now) or \
                    plural == "services" and evaluator.usage(old, now) != evaluator.usage(new, now):
                self._replenish(evaluator, new)

        informer.add_handlers(on_update=updated, on_delete=lambda obj: self._replenish(evaluator, obj))

    def _replenish(self, evaluator: Evaluator, obj: Obj) -> None:
        namespace = obj["metadata"].get("namespace", "")
        for quota in self.informer("v1", "resourcequotas").list(namespace):
            if evaluator.matching_resources((quota.get("status") or {}).get("hard") or {}):
                self.enqueue(quota)

    async def reconcile(self, key: str) -> Result | None:
        quota = self.informer("v1", "resourcequotas").get(key)
        if quota is None:
            return None
        namespace, name = quota["metadata"]["namespace"], quota["metadata"]["name"]
        hard = parse_list((quota.get("spec") or {}).get("hard"))
        used = parse_list((quota.get("status") or {}).get("used"))
        for evaluator in evaluators(list(hard)):
            used.update(await self._usage(evaluator, quota, list(hard)))
        status = {"hard": format_list(hard), "used": format_list(mask(used, hard))}
        current = quota.get("status") or {}
        if "hard" not in current or "used" not in current or \
                parse_list(current["hard"]) != hard or parse_list(current["used"]) != mask(used, hard):
            await self.client.update(resource_path("v1", "resourcequotas", namespace=namespace, name=name,
                                                   subresource="status"), {**quota, "status": status})
            self.decide("resourcequotas", key, f"status.used of {key}: {status['used']}")
        return Result(requeue_after=self.config.resource_quota_sync_period)

    async def _usage(self, evaluator: Evaluator, quota: Obj, hard: list[str]) -> ResourceList:
        """``CalculateUsageStats``: zero for each resource measured, plus every matching object's use."""
        names = evaluator.matching_resources(hard)
        total: ResourceList = dict.fromkeys(names, ZERO)
        now, scopes = self.clock.now(), scopes_of(quota)
        for obj in await self._objects(evaluator, quota["metadata"]["namespace"]):
            if all(evaluator.matches_scope(s, obj) for s in scopes):
                total = add(total, mask(evaluator.usage(obj, now), names))
        return total

    async def _objects(self, evaluator: Evaluator, namespace: str) -> list[Obj]:
        api_version = f"{evaluator.group}/v1" if evaluator.group else "v1"
        if (api_version, evaluator.plural) in INFORMED:
            return self.informer(api_version, evaluator.plural).list(namespace)
        try:
            listed = await self.client.get(resource_path(api_version, evaluator.plural, namespace=namespace))
        except APIStatusError as e:
            if e.code == 404:  # not a resource this API server serves: nothing to count
                return []
            raise
        return listed.get("items") or []
