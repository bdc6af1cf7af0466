"""Pod validation (``pkg/apis/core/validation/validation.go``), with kube's field paths and messages.

- :func:`validate_pod_spec`: ``ValidatePodSpec``, what a pod or a pod template must satisfy
  (volumes, containers and their ports, env, mounts and resources, restart and DNS policies, the
  deadline, the node name and selector, tolerations); :func:`validate_pod_template` adds the
  template's labels (``ValidatePodTemplateSpec``), for Deployments, ReplicaSets and Jobs.
- :func:`validate_pod`: ``ValidatePodCreate``; :func:`validate_pod_update`: ``ValidatePodUpdate``
  (only images, a shorter deadline and added tolerations may change).
- The port, protocol and IP checks (``ValidatePortNumOrName``, ``validateProtocol``,
  ``IsValidPortNum``, ``IsValidPortName``, ``IsValidIP``) are core validation that Services and
  Endpoints use too.

Left out: ephemeral containers, resize, pod-level resources, probes/lifecycle/securityContext
validation, affinity and topology-spread validation, host port conflicts, user namespaces, and the
Go structural diff kube appends to the immutable-update message (labkit lists the changed fields).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from labkit import codec
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.podutil import CONTAINER_KINDS
from labkit.apimachinery.resource import Quantity, QuantityError, parse_quantity
from labkit.apimachinery.validation import (
    Cause,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    qualified_name_errors,
    required,
)
from labkit.apiserver.registry.node import validate_taint_effect
from labkit.apiserver.strategy import list_of_dicts
from labkit.apiserver.validation import validate_labels

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
TOLERATION_OPERATORS = ["Equal", "Exists"]
STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)
MAX_INT32 = 2**31 - 1

PORT_RANGE_MESSAGE = "must be between 1 and 65535, inclusive"


def port_number_errors(port: Any) -> list[str]:
    return [] if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535 else [PORT_RANGE_MESSAGE]


def port_name_errors(name: str) -> list[str]:
    """``IsValidPortName``: an IANA service name."""
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not all(ch.isascii() and (ch.islower() or ch.isdigit() or ch == "-") for ch in name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not any("a" <= ch <= "z" for ch in name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def validate_port_number_or_name(value: Any, path: str) -> list[Cause]:
    """``ValidatePortNumOrName`` (a service's targetPort, a probe's port)."""
    if isinstance(value, str):
        return [invalid(path, value, e) for e in port_name_errors(value)]
    return [invalid(path, value, e) for e in port_number_errors(value)]


def validate_protocol(protocol: Any, path: str) -> list[Cause]:
    if not protocol:
        return [required(path)]
    return [] if protocol in PROTOCOLS else [not_supported(path, protocol, PROTOCOLS)]


def ip_errors(value: Any) -> list[str]:
    try:
        ipaddress.ip_address(value)
        return []
    except ValueError:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]


def container_resource_name_errors(path: str, name: str) -> list[Cause]:
    """``validateContainerResourceName``: a qualified name, and a standard one unless it has a ``/``."""
    causes = [invalid(path, name, e) for e in qualified_name_errors(name)]
    if "/" not in name and name not in STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
        causes.append(invalid(path, name, "must be a standard resource for containers"))
    return causes


def nonnegative_quantity(path: str, value: Any) -> tuple[Quantity | None, list[Cause]]:
    """A quantity and its errors (``ValidateResourceQuantityValue``): well-formed, not below zero."""
    try:
        q = parse_quantity(value)
    except QuantityError as e:
        return None, [invalid(path, value, str(e))]
    return q, [invalid(path, str(q), "must be greater than or equal to 0")] if q.amount < 0 else []


def validate_resource_requirements(resources: Any, path: str) -> list[Cause]:
    """Names, non-negative well-formed quantities, and each request no more than its limit."""
    if not isinstance(resources, dict):
        return []
    causes: list[Cause] = []
    parsed: dict[str, dict[str, Any]] = {}
    for kind in ("limits", "requests"):
        parsed[kind] = {}
        values = resources.get(kind)
        for name, value in (values.items() if isinstance(values, dict) else ()):
            at = f"{path}.{kind}[{name}]"
            causes += container_resource_name_errors(at, name)
            q, errs = nonnegative_quantity(at, value)
            causes += errs
            if q is not None:
                parsed[kind][name] = q
    for name, req in parsed["requests"].items():
        lim = parsed["limits"].get(name)
        if lim is not None and req > lim:
            causes.append(invalid(f"{path}.requests", str(req), f"must be less than or equal to {name} limit of {lim}"))
    return causes


def validate_container(c: Obj, path: str, *, volumes: set[str]) -> list[Cause]:
    """One container's own fields; names across containers are checked by the caller."""
    causes: list[Cause] = []
    if not c.get("image"):
        causes.append(required(f"{path}.image"))
    policy = c.get("imagePullPolicy")
    if policy not in PULL_POLICIES:
        causes.append(not_supported(f"{path}.imagePullPolicy", policy, PULL_POLICIES))
    policy = c.get("terminationMessagePolicy")
    if policy not in TERMINATION_MESSAGE_POLICIES:
        causes.append(not_supported(f"{path}.terminationMessagePolicy", policy, TERMINATION_MESSAGE_POLICIES))
    causes += validate_resource_requirements(c.get("resources"), f"{path}.resources")
    port_names: set[str] = set()
    for i, port in enumerate(c.get("ports") or []):
        at = f"{path}.ports[{i}]"
        if not isinstance(port, dict):
            causes.append(invalid(at, port, "must be an object"))
            continue
        name = port.get("name")
        if name and port_name_errors(str(name)):
            causes += [invalid(f"{at}.name", name, e) for e in port_name_errors(str(name))]
        elif name in port_names:
            causes.append(duplicate(f"{at}.name", name))
        elif name:
            port_names.add(name)
        if not port.get("containerPort"):
            causes.append(required(f"{at}.containerPort"))
        else:
            causes += [invalid(f"{at}.containerPort", port["containerPort"], e)
                       for e in port_number_errors(port["containerPort"])]
        if port.get("hostPort"):
            causes += [invalid(f"{at}.hostPort", port["hostPort"], e) for e in port_number_errors(port["hostPort"])]
        causes += validate_protocol(port.get("protocol"), f"{at}.protocol")
    for i, env in enumerate(list_of_dicts(c.get("env"))):
        if not env.get("name"):
            causes.append(required(f"{path}.env[{i}].name"))
    for i, mount in enumerate(list_of_dicts(c.get("volumeMounts"))):
        at = f"{path}.volumeMounts[{i}]"
        if not mount.get("name"):
            causes.append(required(f"{at}.name"))
        if mount.get("name", "") not in volumes:
            causes.append(Cause("FieldValueNotFound", f"Not found: {json.dumps(mount.get('name', ''))}", f"{at}.name"))
        if not mount.get("mountPath"):
            causes.append(required(f"{at}.mountPath"))
    return causes


def validate_tolerations(tolerations: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, t in enumerate(list_of_dicts(tolerations)):
        at = f"{path}[{i}]"
        key, operator, effect = t.get("key", ""), t.get("operator", ""), t.get("effect", "")
        if key:
            causes += [invalid(f"{at}.key", key, e) for e in qualified_name_errors(key)]
        elif operator != "Exists":
            causes.append(invalid(f"{at}.operator", operator, "operator must be Exists when `key` is empty, "
                                                              'which means "match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(invalid(f"{at}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if operator in ("", "Equal"):
            # kube checks the value as a label value and reports it against `operator`
            causes += validate_labels({"value": t.get("value", "")}, f"{at}.operator")
        elif operator == "Exists":
            if t.get("value"):
                causes.append(invalid(f"{at}.operator", t, "value must be empty when `operator` is 'Exists'"))
        else:
            causes.append(not_supported(f"{at}.operator", operator, TOLERATION_OPERATORS))
        causes += validate_taint_effect(effect, f"{at}.effect", allow_empty=True)
    return causes


def validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    """``ValidatePodSpec``: what a pod, or a pod template, must satisfy."""
    if not isinstance(spec, dict):
        return [required(path)]
    causes: list[Cause] = []
    volumes: set[str] = set()
    for i, v in enumerate(spec.get("volumes") or []):
        at = f"{path}.volumes[{i}]"
        name = v.get("name") if isinstance(v, dict) else None
        if not name:
            causes.append(required(f"{at}.name"))
            continue
        causes += [invalid(f"{at}.name", name, e) for e in dns1123_label_errors(name)]
        if name in volumes:
            causes.append(duplicate(f"{at}.name", name))
        volumes.add(name)
    if not isinstance(spec.get("containers"), list) or not spec["containers"]:
        causes.append(required(f"{path}.containers"))
    names: set[Any] = set()
    for kind in CONTAINER_KINDS:
        for i, c in enumerate(spec.get(kind) or []):
            at = f"{path}.{kind}[{i}]"
            if not isinstance(c, dict):
                causes.append(invalid(at, c, "must be an object"))
                continue
            name = c.get("name")
            if not name:
                causes.append(required(f"{at}.name"))
            else:
                causes += [invalid(f"{at}.name", name, e) for e in dns1123_label_errors(str(name))]
            causes += validate_container(c, at, volumes=volumes)
            if name in names:
                causes.append(duplicate(f"{at}.name", name))
            names.add(name)
    if spec.get("restartPolicy") not in RESTART_POLICIES:
        causes.append(not_supported(f"{path}.restartPolicy", spec.get("restartPolicy"), RESTART_POLICIES))
    if spec.get("dnsPolicy") not in DNS_POLICIES:
        causes.append(not_supported(f"{path}.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not (isinstance(deadline, int) and 1 <= deadline <= MAX_INT32):
        causes.append(invalid(f"{path}.activeDeadlineSeconds", deadline,
                              f"must be between 1 and {MAX_INT32}, inclusive"))
    if node_name := spec.get("nodeName"):
        causes += [invalid(f"{path}.nodeName", node_name, e) for e in dns1123_subdomain_errors(node_name)]
    causes += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    causes += validate_tolerations(spec.get("tolerations"), f"{path}.tolerations")
    return causes


def validate_pod(pod: Obj) -> list[Cause]:
    """``ValidatePodCreate``: the spec, then what only real pods (not templates) must satisfy."""
    spec = pod.get("spec")
    causes = validate_pod_spec(spec, "spec")
    for kind in CONTAINER_KINDS:
        for i, c in enumerate(list_of_dicts((spec or {}).get(kind))):
            image = c.get("image")
            if isinstance(image, str) and image != image.strip():
                causes.append(invalid(f"spec.{kind}[{i}].image", image, "must not have leading or trailing whitespace"))
    return causes


def validate_pod_template(template: Any, path: str) -> list[Cause]:
    """A pod template's labels and spec (``ValidatePodTemplateSpec``)."""
    if not isinstance(template, dict):
        return [required(path)]
    causes = validate_labels((template.get("metadata") or {}).get("labels"), f"{path}.metadata.labels")
    return causes + validate_pod_spec(template.get("spec"), f"{path}.spec")


def _zero_pruned(value: Any) -> Any:
    """Drop what Go would read as a zero value (null, "", false, empty list or map) before comparing."""
    if isinstance(value, dict):
        pruned = {k: _zero_pruned(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", False, [], {})}
    if isinstance(value, list):
        return [_zero_pruned(v) for v in value]
    return value


def _changes(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [line for k in sorted(old.keys() | new.keys())
                for line in _changes(old.get(k), new.get(k), f"{path}.{k}")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [line for i, (o, n) in enumerate(zip(old, new, strict=True)) for line in _changes(o, n, f"{path}[{i}]")]
    if old == new:
        return []
    show = lambda v: "<unset>" if v is None else json.dumps(v, separators=(",", ":"))  # noqa: E731
    return [f"  - {path}: {show(old)}", f"  + {path}: {show(new)}"]


def validate_pod_update(new: Obj, old: Obj) -> list[Cause]:
    """``ValidatePodUpdate``: only images, a shorter deadline and added tolerations may change."""
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    causes = validate_pod(new)
    if any(len(spec.get(k) or []) != len(old_spec.get(k) or []) for k in CONTAINER_KINDS):
        return causes + [forbidden("spec.containers", "pod updates may not add or remove containers")]
    old_deadline, deadline = old_spec.get("activeDeadlineSeconds"), spec.get("activeDeadlineSeconds")
    if old_deadline is not None:
        if deadline is None:
            causes.append(invalid("spec.activeDeadlineSeconds", None,
                                  "must not update from a positive integer to nil value"))
        elif isinstance(deadline, int) and deadline > old_deadline:
            causes.append(invalid("spec.activeDeadlineSeconds", deadline,
                                  "must be less than or equal to previous value"))
    # every old toleration must still be there; only its tolerationSeconds may differ
    new_tolerations = [{**t, "tolerationSeconds": None} for t in list_of_dicts(spec.get("tolerations"))]
    if any({**t, "tolerationSeconds": None} not in new_tolerations for t in list_of_dicts(old_spec.get("tolerations"))):
        causes.append(forbidden("spec.tolerations",
                                "existing toleration can not be modified except its tolerationSeconds"))
    munged = codec.clone(spec)
    for kind in CONTAINER_KINDS:
        for c, old_c in zip(munged.get(kind) or [], old_spec.get(kind) or [], strict=True):
            c["image"] = old_c.get("image")
    for field in ("activeDeadlineSeconds", "tolerations"):
        munged[field] = old_spec.get(field)
    grace, old_grace = spec.get("terminationGracePeriodSeconds"), old_spec.get("terminationGracePeriodSeconds")
    if isinstance(old_grace, int) and old_grace < 0 and grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    munged, old_pruned = _zero_pruned(munged), _zero_pruned(old_spec)
    if munged != old_pruned:
        diff = "\n".join(_changes(old_pruned, munged, "spec"))
        causes.append(forbidden("spec", f"pod updates may not change fields other than "
                                        f"{','.join(UPDATABLE_POD_SPEC_FIELDS)}\n{diff}"))
    return causes
