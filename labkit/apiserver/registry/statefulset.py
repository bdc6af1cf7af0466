"""The StatefulSet strategy (``pkg/registry/apps/statefulset``).

Mirrors ``SetDefaults_StatefulSet`` (``pkg/apis/apps/v1/defaults.go``: ``OrderedReady``, a
``RollingUpdate`` strategy with ``partition: 0`` when no strategy is given, both PVC retention
policies ``Retain``, one replica, ten revisions kept; the claim templates' own defaults),
``ValidateStatefulSetSpec`` / ``ValidateStatefulSetUpdate`` (``pkg/apis/apps/validation``: policy and
strategy values, the selector and template shared with ReplicaSets, each claim template as a claim;
the template's pod spec is not validated, as kube's ``ValidatePodTemplateSpecForStatefulSet`` leaves
it out: its containers may mount a claim template by name, which is a volume only in the pods;
after creation only replicas, ordinals, template, updateStrategy, the retention policy and
minReadySeconds change) and ``printStatefulSet`` (READY as ``ready/desired``).

Left out: ``spec.ordinals`` checks, ``maxUnavailable`` (an alpha feature), status validation, and
``serviceName`` checks (kube no longer requires one).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, forbidden, invalid, required
from labkit.apiserver.registry.persistentvolumeclaim import default_claim_spec, validate_claim_spec
from labkit.apiserver.registry.replicaset import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    container_cells,
    default_template,
    nonnegative,
    set_default,
    validate_selector_and_template,
    validate_selector_unchanged,
)
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

POD_MANAGEMENT_POLICIES = ("OrderedReady", "Parallel")
RETENTION_POLICIES = ["Delete", "Retain"]
#: what an update may change (``ValidateStatefulSetUpdate``)
MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
           "minReadySeconds")
_FORBIDDEN_UPDATE = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                     "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")


def _validate_update_strategy(strategy: Any) -> list[Cause]:
    if not isinstance(strategy, dict) or not strategy.get("type"):
        return [required("spec.updateStrategy")]
    kind, rolling = strategy["type"], strategy.get("rollingUpdate")
    if kind == "OnDelete":
        if rolling is not None:
            return [invalid("spec.updateStrategy.rollingUpdate", rolling,
                            "only allowed for updateStrategy 'RollingUpdate'")]
        return []
    if kind != "RollingUpdate":
        return [invalid("spec.updateStrategy", strategy, "must be 'RollingUpdate' or 'OnDelete'")]
    return nonnegative(rolling, "partition", "spec.updateStrategy.rollingUpdate") if isinstance(rolling, dict) else []


class StatefulSetStrategy(Strategy):
    kind = "StatefulSet"
    status_subresource = True
    tracks_generation = True
    columns = (
        Column("Ready", description="Number of the pod with ready state"),
        AGE_COLUMN, CONTAINERS_COLUMN, IMAGES_COLUMN,
    )

    def default(self, obj: Obj) -> None:
        spec = set_default(obj, "spec", {})
        if not spec.get("podManagementPolicy"):
            spec["podManagementPolicy"] = "OrderedReady"
        strategy = set_default(spec, "updateStrategy", {})
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
            set_default(strategy, "rollingUpdate", {})
        if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
            set_default(strategy["rollingUpdate"], "partition", 0)
        retention = set_default(spec, "persistentVolumeClaimRetentionPolicy", {})
        for when in ("whenDeleted", "whenScaled"):
            if not retention.get(when):
                retention[when] = "Retain"
        set_default(spec, "replicas", 1)
        set_default(spec, "revisionHistoryLimit", 10)
        default_template(spec)
        for claim in spec.get("volumeClaimTemplates") or []:
            if isinstance(claim, dict):
                default_claim_spec(set_default(claim, "spec", {}))

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"replicas": 0, "availableReplicas": 0}

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes: list[Cause] = []
        policy = spec.get("podManagementPolicy")
        if not policy:
            causes.append(required("spec.podManagementPolicy"))
        elif policy not in POD_MANAGEMENT_POLICIES:
            causes.append(invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"))
        causes += _validate_update_strategy(spec.get("updateStrategy"))
        retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        for when in ("whenDeleted", "whenScaled"):
            value = retention.get(when)
            if value and value not in RETENTION_POLICIES:
                causes.append(invalid(f"spec.persistentVolumeClaimRetentionPolicy.{when}", value,
                                      "must be 'Retain' or 'Delete'"))
        causes += nonnegative(spec, "replicas", "spec") + nonnegative(spec, "minReadySeconds", "spec")
        causes += validate_selector_and_template(spec, kind=self.kind, noun="statefulset", pod_spec=False)
        for i, claim in enumerate(spec.get("volumeClaimTemplates") or []):
            causes += validate_claim_spec((claim or {}).get("spec"), f"spec.volumeClaimTemplates[{i}].spec")
        return causes

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(obj)
        spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
        fixed = [k for k in {*spec, *old_spec} if k not in MUTABLE]
        if any(spec.get(k) != old_spec.get(k) for k in fixed):
            causes.append(forbidden("spec", _FORBIDDEN_UPDATE))
        return causes + validate_selector_unchanged(obj, old)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status = obj.get("spec", {}), obj.get("status") or {}
        return [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}", age(obj, now), *container_cells(obj)]


STRATEGY = StatefulSetStrategy()
