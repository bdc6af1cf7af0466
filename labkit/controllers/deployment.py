"""The Deployment controller: roll a pod template out through ReplicaSets (``pkg/controller/deployment``).

Each distinct ``spec.template`` gets a ReplicaSet named ``<deployment>-<pod-template-hash>``; the
hash label also goes into the ReplicaSet's selector and template so the generations never share pods.
``RollingUpdate`` (``rolling.go``) scales the new ReplicaSet up within ``maxSurge`` and the old ones
down while at least ``replicas - maxUnavailable`` pods stay available; ``Recreate`` (``recreate.go``)
scales the old ones to zero first. Revisions live in the ``deployment.kubernetes.io/revision``
annotation: reverting the template (``kubectl rollout undo``) finds the old ReplicaSet and gives it
the next revision. Old ReplicaSets beyond ``revisionHistoryLimit`` are deleted. ``status`` and the
``Progressing`` / ``Available`` conditions use kube's reasons and messages (``util/deployment_util.go``).

Templates are compared and hashed after dropping empty and null fields, so a template sent back by
``rollout undo`` (``creationTimestamp: null``, ``resources: {}``) matches the one it came from. The
hash is FNV-32a of that normalized JSON, not of Go's object dump, so names differ from kube's.
Left out: proportional scaling of several active ReplicaSets (labkit scales the newest), orphan
ReplicaSet adoption, ``spec.rollbackTo``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from labkit import codec
from labkit.apimachinery.meta import Obj, get_controller_of, new_controller_ref
from labkit.apimachinery.timeutil import parse_time, rfc3339
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import Controller, Result
from labkit.informer import Informer

REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # rand.SafeEncodeString: no vowels, no look-alikes
# annotations the controller never copies from the Deployment to its ReplicaSets (skipCopyAnnotation)
SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration", REVISION,
                    "deployment.kubernetes.io/revision-history", DESIRED_REPLICAS, MAX_REPLICAS,
                    "deprecated.deployment.rollback.to"}


def normalized(value: Any) -> Any:
    """Drop null, empty-map and empty-list fields, recursively: the form templates are compared in."""
    if isinstance(value, dict):
        out = {k: normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def without_hash(template: Obj) -> Obj:
    t = codec.clone(template)
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return normalized(t)


def templates_equal(a: Obj, b: Obj) -> bool:
    """``EqualIgnoreHash``."""
    return without_hash(a) == without_hash(b)


def compute_hash(template: Obj, collision_count: int = 0) -> str:
    """``controller.ComputeHash``: FNV-32a of the template (plus the collision count), safely encoded."""
    data = json.dumps(without_hash(template), sort_keys=True, separators=(",", ":"))
    if collision_count:
        data += str(collision_count)
    h = 0x811C9DC5
    for byte in data.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return safe_encode(str(h))


def safe_encode(digits: str) -> str:
    """``rand.SafeEncodeString`` of a hash sum's decimal digits."""
    return "".join(SAFE_ALPHABET[ord(d) % len(SAFE_ALPHABET)] for d in digits)


def resolve(value: int | str | None, total: int, *, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    scaled = int(value.rstrip("%")) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def fenceposts(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against ``spec.replicas`` (``ResolveFenceposts``)."""
    replicas = d["spec"].get("replicas", 1)
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = resolve(rolling.get("maxSurge"), replicas, round_up=True)
    unavailable = resolve(rolling.get("maxUnavailable"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def revision(obj: Obj) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def replicas(rs: Obj | None) -> int:
    return 0 if rs is None else rs["spec"].get("replicas", 0)


def _status(rs: Obj, field: str) -> int:
    return (rs.get("status") or {}).get(field, 0)


def condition(status: Obj, kind: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def set_condition(status: Obj, kind: str, value: str, reason: str, message: str, *, now: dt.datetime,
                  refresh: bool = False) -> None:
    """``SetDeploymentCondition`` at ``now``: an unchanged status and reason is left alone (unless ``refresh``:
    progress bumps ``lastUpdateTime``); ``lastTransitionTime`` stays while the status does not change."""
    at = rfc3339(now)
    old = condition(status, kind)
    if old is not None and old["status"] == value and old.get("reason") == reason and not refresh:
        return
    new = {"type": kind, "status": value, "lastUpdateTime": at,
           "lastTransitionTime": old["lastTransitionTime"] if old is not None and old["status"] == value else at,
           "reason": reason, "message": message}
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != kind] + [new]


class DeploymentController(Controller):
    name = "deployment-controller"
    resource = "deployments"

    @property
    def deployments(self) -> Informer:
        return self.informer("apps/v1", "deployments")

    @property
    def replicasets(self) -> Informer:
        return self.informer("apps/v1", "replicasets")

    def _set_condition(self, status: Obj, kind: str, value: str, reason: str, message: str, *,
                       refresh: bool = False) -> None:
        set_condition(status, kind, value, reason, message, now=self.clock.now(), refresh=refresh)

    def register(self) -> None:
        self.deployments.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                      on_delete=self.enqueue)
        self.replicasets.add_handlers(on_add=self._rs_changed, on_update=lambda _o, n: self._rs_changed(n),
                                      on_delete=self._rs_changed)

    def _rs_changed(self, rs: Obj) -> None:
        ref = get_controller_of(rs)
        if ref is not None and ref.get("kind") == "Deployment":
            self.queue.add(f"{rs['metadata']['namespace']}/{ref['name']}")

    def _owned(self, d: Obj) -> list[Obj]:
        uid = d["metadata"]["uid"]
        owned = [rs for rs in self.replicasets.list(d["metadata"]["namespace"])
                 if (get_controller_of(rs) or {}).get("uid") == uid]
        return sorted(owned, key=lambda rs: (rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"]))

    # --- sync -----------------------------------------------------------------------------------

    async def sync(self, key: str) -> Result | None:
        d = self.deployments.get(key)
        if d is None:
            return None
        d = codec.clone(d)
        all_rs = self._owned(d)
        if d["metadata"].get("deletionTimestamp"):
            return await self._sync_status(d, all_rs, self._find_new(d, all_rs))
        await self._check_paused(d)
        if d["spec"].get("paused"):
            new_rs = await self._new_replica_set(d, all_rs, create=False)
            if new_rs is not None:
                await self._scale(d, new_rs, d["spec"].get("replicas", 1))
            return await self._sync_status(d, self._owned(d), new_rs)
        if ((d["spec"].get("strategy") or {}).get("type")) == "Recreate":
            return await self._rollout_recreate(d, all_rs)
        return await self._rollout_rolling(d, all_rs)

    async def _check_paused(self, d: Obj) -> None:
        """``checkPausedConditions``: Progressing says DeploymentPaused / DeploymentResumed."""
        status = d.setdefault("status", {})
        cond = condition(status, "Progressing")
        if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
            return
        paused = bool(d["spec"].get("paused"))
        was_paused = cond is not None and cond.get("reason") == "DeploymentPaused"
        if paused and not was_paused:
            self._set_condition(status, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        elif not paused and was_paused:
            self._set_condition(status, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed")
        else:
            return
        await self._write_status(d)

    def _find_new(self, d: Obj, all_rs: list[Obj]) -> Obj | None:
        """The oldest ReplicaSet whose template equals the Deployment's (``FindNewReplicaSet``)."""
        return next((rs for rs in all_rs if templates_equal(rs["spec"]["template"], d["spec"]["template"])), None)

    async def _new_replica_set(self, d: Obj, all_rs: list[Obj], *, create: bool) -> Obj | None:
        """``getNewReplicaSet``: find it (bumping its revision if it is an old one brought back) or create it."""
        existing = self._find_new(d, all_rs)
        old_max = max((revision(rs) for rs in all_rs if rs is not existing), default=0)
        new_revision = old_max + 1
        status = d.setdefault("status", {})
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        if existing is not None:
            rs = codec.clone(existing)
            annotations = rs["metadata"].setdefault("annotations", {})
            changed = self._copy_annotations(d, rs)
            if revision(rs) < new_revision:
                annotations[REVISION] = str(new_revision)
                changed = True
            if rs["spec"].get("minReadySeconds", 0) != d["spec"].get("minReadySeconds", 0):
                rs["spec"]["minReadySeconds"] = d["spec"].get("minReadySeconds", 0)
                changed = True
            if changed:
                rs = await self.client.update(resource_path("apps/v1", "replicasets", namespace=ns,
                                                            name=rs["metadata"]["name"]), rs)
            await self._set_deployment_revision(d, revision(rs))
            if condition(status, "Progressing") is None:  # only when none was recorded: a timeout or a pause stays
                self._set_condition(status, "Progressing", "True", "FoundNewReplicaSet",
                                    f'Found new replica set "{rs["metadata"]["name"]}"')
                await self._write_status(d)
            return rs
        if not create:
            return None
        template = codec.clone(d["spec"]["template"])
        pod_hash = compute_hash(template, status.get("collisionCount", 0))
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = codec.clone(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        rs_name = f"{name}-{pod_hash}"
        surge, _ = fenceposts(d) if d["spec"].get("strategy", {}).get("type") != "Recreate" else (0, 0)
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": rs_name, "namespace": ns, "labels": dict(template["metadata"]["labels"]),
                           "annotations": {}, "ownerReferences": [new_controller_ref(d, kind="Deployment",
                                                                                  api_version="apps/v1")]},
              "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                       "selector": selector, "template": template}}
        self._copy_annotations(d, rs)
        rs["metadata"]["annotations"][REVISION] = str(new_revision)
        rs["spec"]["replicas"] = self._new_rs_replicas(d, all_rs, rs)
        self._set_replicas_annotations(rs, d["spec"].get("replicas", 1), d["spec"].get("replicas", 1) + surge)
        try:
            created = await self.client.create(resource_path("apps/v1", "replicasets", namespace=ns), rs)
        except APIStatusError as e:
            if e.code == 409:  # a hash collision with a ReplicaSet of another template: try the next name
                status["collisionCount"] = status.get("collisionCount", 0) + 1
                await self._write_status(d)
            raise
        if replicas(created) > 0:
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled up replica set {rs_name} from 0 to {replicas(created)}")
        await self._set_deployment_revision(d, new_revision)
        self._set_condition(status, "Progressing", "True", "NewReplicaSetCreated",
                            f'Created new replica set "{rs_name}"')
        await self._write_status(d)
        return created

    def _copy_annotations(self, d: Obj, rs: Obj) -> bool:
        annotations = rs["metadata"].setdefault("annotations", {})
        changed = False
        for k, v in (d["metadata"].get("annotations") or {}).items():
            if k not in SKIP_ANNOTATIONS and annotations.get(k) != v:
                annotations[k] = v
                changed = True
        return changed

    @staticmethod
    def _set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
        annotations = rs["metadata"].setdefault("annotations", {})
        wanted = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(max_replicas)}
        if all(annotations.get(k) == v for k, v in wanted.items()):
            return False
        annotations.update(wanted)
        return True

    async def _set_deployment_revision(self, d: Obj, rev: int) -> None:
        if (d["metadata"].get("annotations") or {}).get(REVISION) == str(rev):
            return
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        updated = await self.client.patch(resource_path("apps/v1", "deployments", namespace=ns, name=name),
                                          {"metadata": {"annotations": {REVISION: str(rev)}}})
        d["metadata"] = updated["metadata"]

    def _new_rs_replicas(self, d: Obj, all_rs: list[Obj], new_rs: Obj) -> int:
        """``NewRSNewReplicas``: how far the new ReplicaSet may grow now."""
        want = d["spec"].get("replicas", 1)
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            return want
        surge, _ = fenceposts(d)
        current = replicas(new_rs) + sum(replicas(rs) for rs in all_rs
                                         if rs["metadata"]["name"] != new_rs["metadata"]["name"])
        max_total = want + surge
        if current >= max_total:
            return replicas(new_rs)
        return replicas(new_rs) + min(max_total - current, want - replicas(new_rs))

    async def _scale(self, d: Obj, rs: Obj, to: int) -> tuple[bool, Obj]:
        """``scaleReplicaSetAndRecordEvent``: set replicas and the desired/max annotations."""
        rs = codec.clone(rs)
        old = replicas(rs)
        surge = fenceposts(d)[0] if (d["spec"].get("strategy") or {}).get("type") != "Recreate" else 0
        annotations_changed = self._set_replicas_annotations(rs, d["spec"].get("replicas", 1),
                                                             d["spec"].get("replicas", 1) + surge)
        if old == to and not annotations_changed:
            return False, rs
        rs["spec"]["replicas"] = to
        ns = rs["metadata"]["namespace"]
        rs = await self.client.update(resource_path("apps/v1", "replicasets", namespace=ns,
                                                    name=rs["metadata"]["name"]), rs)
        if old != to:
            direction = "up" if to > old else "down"
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled {direction} replica set {rs['metadata']['name']} from {old} to {to}")
        return old != to, rs

    # --- strategies -----------------------------------------------------------------------------

    async def _rollout_rolling(self, d: Obj, all_rs: list[Obj]) -> Result | None:
        new_rs = await self._new_replica_set(d, all_rs, create=True)
        assert new_rs is not None
        all_rs = self._merge(all_rs, new_rs)
        old_rs = [rs for rs in all_rs if rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        want = d["spec"].get("replicas", 1)
        if replicas(new_rs) != want:
            target = min(want, self._new_rs_replicas(d, all_rs, new_rs)) if replicas(new_rs) < want else want
            scaled, new_rs = await self._scale(d, new_rs, target)
            if scaled:
                return await self._sync_status(d, self._merge(all_rs, new_rs), new_rs)
        if await self._reconcile_old(d, all_rs, old_rs, new_rs):
            return await self._sync_status(d, self._owned(d), new_rs)
        if self._complete(d, d.get("status") or {}):
            await self._cleanup(d, old_rs)
        return await self._sync_status(d, all_rs, new_rs)

    async def _reconcile_old(self, d: Obj, all_rs: list[Obj], old_rs: list[Obj], new_rs: Obj) -> bool:
        """``reconcileOldReplicaSets``: scale old ReplicaSets down without going below minAvailable."""
        if sum(replicas(rs) for rs in old_rs) == 0:
            return False
        want = d["spec"].get("replicas", 1)
        _, max_unavailable = fenceposts(d)
        min_available = want - max_unavailable
        new_unavailable = replicas(new_rs) - _status(new_rs, "availableReplicas")
        max_scaled_down = sum(replicas(rs) for rs in all_rs) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        scaled = 0
        for rs in old_rs:  # cleanupUnhealthyReplicas: unavailable pods go first
            unhealthy = replicas(rs) - _status(rs, "availableReplicas")
            if scaled >= max_scaled_down or replicas(rs) == 0 or unhealthy <= 0:
                continue
            down = min(unhealthy, max_scaled_down - scaled)
            await self._scale(d, rs, replicas(rs) - down)
            rs["spec"]["replicas"] = replicas(rs) - down
            scaled += down
        available = sum(_status(rs, "availableReplicas") for rs in all_rs)
        budget = available - min_available
        for rs in old_rs:  # scaleDownOldReplicaSetsForRollingUpdate
            if budget <= 0:
                break
            down = min(replicas(rs), budget)
            if down > 0:
                await self._scale(d, rs, replicas(rs) - down)
                budget -= down
                scaled += down
        return scaled > 0

    async def _rollout_recreate(self, d: Obj, all_rs: list[Obj]) -> Result | None:
        new_rs = await self._new_replica_set(d, all_rs, create=False)
        old_rs = [rs for rs in all_rs if new_rs is None or rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        scaled = False
        for rs in old_rs:
            if replicas(rs) > 0:
                scaled |= (await self._scale(d, rs, 0))[0]
        if scaled:
            return await self._sync_status(d, self._owned(d), new_rs)
        if any(_status(rs, "replicas") > 0 for rs in old_rs):  # old pods still running: wait for them
            return await self._sync_status(d, all_rs, new_rs)
        if new_rs is None:
            new_rs = await self._new_replica_set(d, all_rs, create=True)
            assert new_rs is not None
        _, new_rs = await self._scale(d, new_rs, d["spec"].get("replicas", 1))
        all_rs = self._merge(all_rs, new_rs)
        if self._complete(d, d.get("status") or {}):
            await self._cleanup(d, old_rs)
        return await self._sync_status(d, all_rs, new_rs)

    @staticmethod
    def _merge(all_rs: list[Obj], rs: Obj) -> list[Obj]:
        return [r for r in all_rs if r["metadata"]["uid"] != rs["metadata"]["uid"]] + [rs]

    async def _cleanup(self, d: Obj, old_rs: list[Obj]) -> None:
        """``cleanupDeployment``: delete the oldest empty ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = d["spec"].get("revisionHistoryLimit", 10)
        empty = sorted((rs for rs in old_rs if replicas(rs) == 0 and _status(rs, "replicas") == 0
                        and not rs["metadata"].get("deletionTimestamp")), key=revision)
        for rs in empty[:max(len(empty) - limit, 0)]:
            try:
                await self.client.delete(resource_path("apps/v1", "replicasets", namespace=rs["metadata"]["namespace"],
                                                       name=rs["metadata"]["name"]))
            except APIStatusError as e:
                if e.code != 404:
                    raise

    # --- status ---------------------------------------------------------------------------------

    @staticmethod
    def _complete(d: Obj, status: Obj) -> bool:
        """``DeploymentComplete``."""
        want = d["spec"].get("replicas", 1)
        return (status.get("updatedReplicas", 0) == want and status.get("replicas", 0) == want
                and status.get("availableReplicas", 0) == want
                and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1))

    async def _sync_status(self, d: Obj, all_rs: list[Obj], new_rs: Obj | None) -> Result | None:
        """``calculateStatus`` + ``syncRolloutStatus``."""
        old = codec.clone(d.get("status") or {})
        status = d.setdefault("status", {})
        want = d["spec"].get("replicas", 1)
        available = sum(_status(rs, "availableReplicas") for rs in all_rs)
        status.update({
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": sum(_status(rs, "replicas") for rs in all_rs),
            "updatedReplicas": _status(new_rs, "replicas") if new_rs is not None else 0,
            "readyReplicas": sum(_status(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(sum(replicas(rs) for rs in all_rs) - available, 0),
        })
        _, max_unavailable = fenceposts(d) if (d["spec"].get("strategy") or {}).get("type") != "Recreate" else (0, 0)
        if available >= want - max_unavailable:
            self._set_condition(status, "Available", "True", "MinimumReplicasAvailable",
                                "Deployment has minimum availability.")
        else:
            self._set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                          "Deployment does not have minimum availability.")
        result = None
        cond = condition(status, "Progressing")
        if new_rs is not None and not d["spec"].get("paused") and \
                (cond is None or cond.get("reason") != "ProgressDeadlineExceeded"):
            rs_name = new_rs["metadata"]["name"]
            deadline = d["spec"].get("progressDeadlineSeconds", 600)
            if self._complete(d, status):
                self._set_condition(status, "Progressing", "True", "NewReplicaSetAvailable",
                              f'ReplicaSet "{rs_name}" has successfully progressed.')
            elif any(status.get(k, 0) > old.get(k, 0)
                     for k in ("updatedReplicas", "readyReplicas", "availableReplicas")) \
                    or status["replicas"] - status["updatedReplicas"] \
                    < old.get("replicas", 0) - old.get("updatedReplicas", 0):
                self._set_condition(status, "Progressing", "True", "ReplicaSetUpdated",
                                    f'ReplicaSet "{rs_name}" is progressing.', refresh=True)
                result = Result(requeue_after=deadline + 1)
            elif cond is not None and cond["status"] == "True":
                since = parse_time(cond.get("lastUpdateTime"))
                if since is not None and (self.clock.now() - since).total_seconds() > deadline:
                    # the condition only: kube's syncRolloutStatus records no event for it
                    self._set_condition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                                        f'ReplicaSet "{rs_name}" has timed out progressing.')
                elif since is not None:
                    result = Result(requeue_after=max(deadline - (self.clock.now() - since).total_seconds(), 0) + 1)
        if status != old:
            await self._write_status(d)
        return result

    async def _write_status(self, d: Obj) -> None:
        updated = await self.client.update(
            resource_path("apps/v1", "deployments", namespace=d["metadata"]["namespace"], name=d["metadata"]["name"],
                          subresource="status"), d)
        d["metadata"] = updated["metadata"]

