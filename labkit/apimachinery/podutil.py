"""What a pod is, read off its spec and status: ready, available, its containers, its QoS class.

Mirrors ``pkg/api/v1/pod`` (``IsPodReady``, ``GetPodReadyCondition``, ``IsPodAvailable``) and
``pkg/apis/core/helper/qos`` (``GetPodQOS``). The ReplicaSet, Deployment, Job and Endpoints
controllers count and route to pods with them; the API server sets ``status.qosClass`` when a pod
is created.

Left out: ``FindPort`` (the Endpoints controller's, beside its only caller), ``VisitContainers``'
masks (ephemeral containers), pod-level resources in the QoS class, and the kubelet's
``IsPodReadyConditionTrue`` variants for pod status in flight.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

from labkit.apimachinery.meta import Obj, find_status_condition
from labkit.apimachinery.resource import QuantityError, parse_quantity
from labkit.apimachinery.timeutil import now_utc, parse_time

#: a pod's container lists, in the order kube visits (and validates) them
CONTAINER_KINDS = ("containers", "initContainers")


def containers_of(spec: Obj) -> list[Obj]:
    """Containers, then init containers (entries that are not objects are skipped: validation reports them)."""
    out = []
    for kind in CONTAINER_KINDS:
        items = spec.get(kind)
        out += [c for c in items if isinstance(c, dict)] if isinstance(items, list) else []
    return out


# --- ready and available (pkg/api/v1/pod) ---------------------------------------------------------------


def get_pod_ready_condition(pod: Obj) -> Obj | None:
    """The pod's ``Ready`` condition, if it has one (``GetPodReadyCondition``)."""
    return find_status_condition((pod.get("status") or {}).get("conditions"), "Ready")


def is_pod_ready(pod: Obj) -> bool:
    """``IsPodReady``: the ``Ready`` condition is ``True``."""
    cond = get_pod_ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def is_pod_available(pod: Obj, min_ready_seconds: int, now: dt.datetime | None = None) -> bool:
    """Ready for at least ``minReadySeconds`` at ``now`` (default: the current time) (``IsPodAvailable``)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time((get_pod_ready_condition(pod) or {}).get("lastTransitionTime"))
    return since is not None and ((now or now_utc()) - since).total_seconds() >= min_ready_seconds


# --- QoS class (pkg/apis/core/helper/qos) -------------------------------------------------------------


def _amount(value: Any) -> Fraction | None:
    try:
        return parse_quantity(value).amount
    except QuantityError:
        return None


def _mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is an object, else empty (what a missing or malformed field reads as)."""
    return value if isinstance(value, dict) else {}


def qos_class(spec: Obj) -> str:
    """``Guaranteed``, ``Burstable`` or ``BestEffort`` from the cpu and memory requests and limits (``GetPodQOS``).

    A request missing where a limit is set counts as the limit, as defaulting makes it."""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    for c in containers_of(spec):
        resources = _mapping(c.get("resources"))
        lim = _mapping(resources.get("limits"))
        req = {**lim, **_mapping(resources.get("requests"))}
        found = set()
        for target, source in ((requests, req), (limits, lim)):
            for name in ("cpu", "memory"):
                amount = _amount(source[name]) if name in source else None
                if amount is not None and amount > 0:
                    target[name] = target.get(name, Fraction(0)) + amount
                    if target is limits:
                        found.add(name)
        if found != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"
