"""The ``LimitRanger`` admission plugin: a namespace's LimitRanges default and bound what pods ask for.

Mirrors ``plugin/pkg/admission/limitranger/admission.go``. On a pod's CREATE, ``admit`` fills in each
container's missing requests and limits from the ``Container`` items' ``defaultRequest`` and
``default`` and says so in the ``kubernetes.io/limit-ranger`` annotation (``LimitRanger plugin set:
cpu, memory request for container app; cpu limit for container app``); ``validate`` then refuses
(403) a container or pod outside an item's ``min``, ``max`` or ``maxLimitRequestRatio``, with every
failure of one LimitRange in one message (``[e1, e2]`` when there are several). Quantities are
compared in thousandths, as kube does.

kube-apiserver decodes a request with its defaults (``requests`` copied from ``limits``) before
admission; labkit defaults after it, so ``admit`` defaults the pod first. labkit also sets the pod's
``status.qosClass`` before admission, so ``admit`` computes it again after changing resources.

The API server hands it the LimitRanges from a watch-fed cache (kube's informer). Left out:
``PersistentVolumeClaim`` items (claims are not checked against LimitRanges), the live lookup kube makes
when its informer has none for the namespace, and Go's random map order: failures are listed by
resource name, where kube's order may vary between requests.
"""

from __future__ import annotations

from collections.abc import Callable

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.podutil import qos_class
from labkit.apimachinery.resource import Quantity
from labkit.apiserver import errors
from labkit.apiserver.admission import AdmissionPlugin, Attributes
from labkit.apiserver.registry.pod import default_pod
from labkit.apiserver.strategy import list_of_dicts
from labkit.quota import ResourceList, parse_list, pod_requirements

ANNOTATION = "kubernetes.io/limit-ranger"
#: the LimitRanges of a namespace
ListLimitRanges = Callable[[str], list[Obj]]


def _min_error(kind: str, name: str, enforced: Quantity, req: ResourceList, lim: ResourceList) -> str:
    """``minConstraint``."""
    if name not in req:
        return f"minimum {name} usage per {kind} is {enforced}.  No request is specified."
    if req[name].milli_value() < enforced.milli_value():
        return f"minimum {name} usage per {kind} is {enforced}, but request is {req[name]}."
    if name in lim and lim[name].milli_value() < enforced.milli_value():
        return f"minimum {name} usage per {kind} is {enforced}, but limit is {lim[name]}."
    return ""


def _max_error(kind: str, name: str, enforced: Quantity, req: ResourceList, lim: ResourceList) -> str:
    """``maxConstraint``."""
    if name not in lim:
        return f"maximum {name} usage per {kind} is {enforced}.  No limit is specified."
    if lim[name].milli_value() > enforced.milli_value():
        return f"maximum {name} usage per {kind} is {enforced}, but limit is {lim[name]}."
    if name in req and req[name].milli_value() > enforced.milli_value():
        return f"maximum {name} usage per {kind} is {enforced}, but request is {req[name]}."
    return ""


def _ratio_error(kind: str, name: str, enforced: Quantity, req: ResourceList, lim: ResourceList) -> str:
    """``limitRequestRatioConstraint``: the ratio is printed as Go's ``%f`` prints a float."""
    request = req[name].milli_value() if name in req else 0
    limit = lim[name].milli_value() if name in lim else 0
    if request == 0:
        return (f"{name} max limit to request ratio per {kind} is {enforced}, but no request is specified "
                "or request is 0.")
    if limit == 0:
        return (f"{name} max limit to request ratio per {kind} is {enforced}, but no limit is specified "
                "or limit is 0.")
    ratio = limit / request
    if ratio * 1000 > enforced.milli_value():
        return f"{name} max limit to request ratio per {kind} is {enforced}, but provided ratio is {ratio:f}."
    return ""


def _check(item: Obj, kind: str, req: ResourceList, lim: ResourceList) -> list[str]:
    out = []
    for field, check in (("min", _min_error), ("max", _max_error), ("maxLimitRequestRatio", _ratio_error)):
        for name, enforced in sorted(parse_list(item.get(field)).items()):
            out.append(check(kind, name, enforced, req, lim))
    return [e for e in out if e]


def _resources(c: Obj) -> tuple[ResourceList, ResourceList]:
    r = c.get("resources") or {}
    return parse_list(r.get("requests")), parse_list(r.get("limits"))


def validate_pod(limit_range: Obj, pod: Obj) -> list[str]:
    """``PodValidateLimitFunc``: every failure of the pod against one LimitRange."""
    spec = pod.get("spec") or {}
    errs: list[str] = []
    for item in list_of_dicts((limit_range.get("spec") or {}).get("limits")):
        if item.get("type") == "Container":
            for c in list_of_dicts(spec.get("containers")) + list_of_dicts(spec.get("initContainers")):
                errs += _check(item, "Container", *_resources(c))
        elif item.get("type") == "Pod":
            errs += _check(item, "Pod", pod_requirements(spec, "requests"), pod_requirements(spec, "limits"))
    return list(dict.fromkeys(errs))  # an aggregate error says each message once


def default_pod_resources(limit_range: Obj, pod: Obj) -> None:
    """``PodMutateLimitFunc``: fill in missing requests and limits from the Container items, and say which."""
    defaults: list[dict[str, str]] = [{}, {}]  # requests, limits
    for item in list_of_dicts((limit_range.get("spec") or {}).get("limits")):
        if item.get("type") == "Container":
            defaults[0].update(item.get("defaultRequest") or {})
            defaults[1].update(item.get("default") or {})
    spec = pod.get("spec") or {}
    notes = []
    for kind, label in (("containers", "container"), ("initContainers", "init container")):
        for c in list_of_dicts(spec.get(kind)):
            resources = c.setdefault("resources", {})
            if not isinstance(resources, dict):
                continue  # malformed: validation says so
            for field, wanted, word in (("requests", defaults[0], "request"), ("limits", defaults[1], "limit")):
                have = resources.setdefault(field, {})
                if not isinstance(have, dict):
                    continue
                added = sorted(name for name in wanted if name not in have)
                have.update({name: wanted[name] for name in added})
                if not have:
                    del resources[field]  # as JSON leaves out kube's empty map
                if added:
                    notes.append(f"{', '.join(added)} {word} for {label} {c.get('name', '')}")
    if notes:
        meta = pod.setdefault("metadata", {})
        meta.setdefault("annotations", {})[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


class LimitRanger(AdmissionPlugin):
    name = "LimitRanger"

    def __init__(self, list_limit_ranges: ListLimitRanges) -> None:
        self._list = list_limit_ranges

    def _applies(self, attrs: Attributes, obj: Obj | None) -> bool:
        return attrs.resource.plural == "pods" and not attrs.resource.group and not attrs.subresource and \
            attrs.operation == "CREATE" and obj is not None

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        if not self._applies(attrs, obj):
            return
        assert obj is not None
        ranges = self._list(attrs.namespace)
        if not ranges:
            return
        default_pod(obj)
        for limit_range in ranges:
            default_pod_resources(limit_range, obj)
        if isinstance(obj.get("status"), dict) and "qosClass" in obj["status"]:
            obj["status"]["qosClass"] = qos_class(obj.get("spec") or {})

    def validate(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        if not self._applies(attrs, obj):
            return
        assert obj is not None
        for limit_range in self._list(attrs.namespace):
            errs = validate_pod(limit_range, obj)
            if errs:
                message = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
                raise errors.forbidden(f'pods "{attrs.name}" is forbidden: {message}', "pods", attrs.name)


