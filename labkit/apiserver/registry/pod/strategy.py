"""The Pod strategy (``pkg/registry/core/pod/strategy.go``): what the generic store does to a pod.

- Defaulting is ``SetDefaults_Pod`` (``defaults.py``); validation is ``ValidatePodCreate`` and
  ``ValidatePodUpdate`` (``validation.py``); the Table is ``printPod`` (``printing.py``).
- ``PrepareForCreate``: ``status`` starts Pending with the QoS class (``pkg/apis/core/helper/qos``,
  in ``labkit/apimachinery/podutil.py``), and a pod with scheduling gates gets its
  ``PodScheduled=False/SchedulingGated`` condition. It also adds the not-ready/unreachable
  tolerations that the ``DefaultTolerationSeconds`` admission plugin
  (``plugin/pkg/admission/defaulttolerationseconds``) adds in kube-apiserver. ``serviceAccountName``
  and ``priority`` come from labkit's admission chain (``labkit/apiserver/admission.py``).
- Updates through the main resource keep ``status`` (``/status`` writes keep the rest) and bump
  ``metadata.generation`` on spec changes.
- Selectable fields (``PodToSelectableFields``) and the watch cache's trigger on ``spec.nodeName``
  (``NodeNameTriggerFunc``), so each kubelet watches only its node's pods.

The grace period of a delete (``CheckGracefulDelete``) is in ``storage.py``, beside the rest of what
the pod's storage does. Left out: the create warnings (``WarningsOnCreate``), dropping fields of
disabled features, the affinity and topology-spread ``matchLabelKeys`` mutation, AppArmor field
sync, and the ephemeral-containers and resize strategies.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.podutil import qos_class
from labkit.apimachinery.validation import Cause
from labkit.apiserver.registry.pod.defaults import default_pod
from labkit.apiserver.registry.pod.printing import COLUMNS, pod_cells, pod_ip
from labkit.apiserver.registry.pod.validation import validate_pod, validate_pod_update
from labkit.apiserver.strategy import Strategy, list_of_dicts

DEFAULT_TOLERATION_SECONDS = 300
NODE_NOT_READY_TAINT = "node.kubernetes.io/not-ready"
NODE_UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


def add_default_tolerations(spec: Obj) -> None:
    """The ``DefaultTolerationSeconds`` admission plugin: tolerate a not-ready or unreachable node
    for 300s unless the pod already tolerates that taint."""
    raw = spec.get("tolerations")
    tolerations: list[Any] = raw if isinstance(raw, list) else []
    for taint in (NODE_NOT_READY_TAINT, NODE_UNREACHABLE_TAINT):
        if not any(t.get("key", "") in ("", taint) and t.get("effect", "") in ("", "NoExecute")
                   for t in list_of_dicts(tolerations)):
            tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})
    spec["tolerations"] = tolerations


class PodStrategy(Strategy):
    kind = "Pod"
    status_subresource = True
    tracks_generation = True
    columns = COLUMNS

    def default(self, obj: Obj) -> None:
        default_pod(obj)

    def prepare_for_create(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
        if spec.get("schedulingGates"):
            obj["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                                            "message": "Scheduling is blocked due to non-empty scheduling gates"}]
        add_default_tolerations(spec)

    def validate(self, obj: Obj) -> list[Cause]:
        return validate_pod(obj)

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        return validate_pod_update(obj, old)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return pod_cells(obj, now)

    trigger_field = "spec.nodeName"  # each kubelet watches only its node's pods

    def field_labels(self, obj: Obj) -> dict[str, str]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return {
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.restartPolicy": spec.get("restartPolicy", ""),
            "spec.schedulerName": spec.get("schedulerName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
            "status.phase": status.get("phase", ""),
            "status.podIP": pod_ip(obj),
            "status.nominatedNodeName": status.get("nominatedNodeName", ""),
        }


STRATEGY = PodStrategy()
