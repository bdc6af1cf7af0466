"""The Pod strategy (``pkg/registry/core/pod``), and the pod spec rules pod templates reuse.

- Defaulting: ``SetDefaults_PodSpec``, ``SetDefaults_Container``, ``SetDefaults_Probe``, the volume
  defaults and ``SetDefaults_ResourceList`` (``pkg/apis/core/v1/defaults.go``) in
  :func:`default_pod_spec`, which Deployments, ReplicaSets and Jobs call on their templates; plus the
  pod-only ``SetDefaults_Pod`` (requests default to limits, ``enableServiceLinks``).
- On create, :meth:`PodStrategy.prepare_for_create` sets ``status`` to Pending with the QoS class
  (``pkg/apis/core/helper/qos``, in ``labkit/apimachinery/podutil.py``) and adds the
  not-ready/unreachable tolerations that the ``DefaultTolerationSeconds`` admission plugin adds in
  kube-apiserver. ``serviceAccountName`` and
  ``priority`` come from labkit's admission chain (``labkit/apiserver/admission.py``).
- Validation: the parts of ``ValidatePodSpec`` and ``ValidatePodUpdate``
  (``pkg/apis/core/validation``) a learner runs into, with kube's field paths and messages.
- Printing: ``printPod`` (``pkg/printers/internalversion``), including the Status and Restarts cells.

Left out: ephemeral containers, resize, pod-level resources, probes/lifecycle/securityContext
validation, affinity and topology-spread validation, host port conflicts, user namespaces, and the
Go structural diff kube appends to the immutable-update message (labkit lists the changed fields).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from typing import Any

from labkit import codec
from labkit.apimachinery.meta import Obj, find_status_condition
from labkit.apimachinery.podutil import CONTAINER_KINDS, containers_of, qos_class
from labkit.apimachinery.resource import QuantityError, default_resource_list, parse_quantity
from labkit.apimachinery.timeutil import parse_time
from labkit.apimachinery.validation import (
    Cause, dns1123_label_errors, dns1123_subdomain_errors, duplicate, forbidden, invalid, not_supported,
    qualified_name_errors, required,
)
from labkit.apiserver.registry.node import validate_taint_effect
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age, human_duration
from labkit.apiserver.validation import validate_labels

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
TOLERATION_OPERATORS = ["Equal", "Exists"]
STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
DEFAULT_MODE = 0o644  # secret, configMap, downwardAPI and projected volumes
DEFAULT_TOLERATION_SECONDS = 300
NODE_NOT_READY_TAINT = "node.kubernetes.io/not-ready"
NODE_UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)
MAX_INT32 = 2**31 - 1


def list_of_dicts(value: Any) -> list[Obj]:
    """The dict items of a list (malformed entries are reported by validation, not by defaulting)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# --- defaulting (pkg/apis/core/v1/defaults.go) ------------------------------------------------------


def image_tag(image: str) -> str:
    """The tag of an image reference ("" when there is none or it is pinned by digest only)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


def default_container(c: Obj) -> None:
    if not c.get("imagePullPolicy"):
        image = c.get("image") if isinstance(c.get("image"), str) else ""
        tag = image_tag(image) or ("" if "@" in image else "latest")
        c["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    resources = c.setdefault("resources", {})  # kube always serialises the struct, so `{}` shows
    if isinstance(resources, dict):
        default_resource_list(resources.get("limits"))
        default_resource_list(resources.get("requests"))
    for port in list_of_dicts(c.get("ports")):
        port.setdefault("protocol", "TCP")
    for env in list_of_dicts(c.get("env")):
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(probe_name)
        if isinstance(probe, dict):
            for field, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                                 ("failureThreshold", 3)):
                probe.setdefault(field, value)
            http_get = probe.get("httpGet")
            if isinstance(http_get, dict):
                http_get.setdefault("path", "/")
                http_get.setdefault("scheme", "HTTP")


def default_volume(v: Obj) -> None:
    sources = [k for k in v if k != "name"]
    if not sources:
        v["emptyDir"] = {}
    for kind in ("secret", "configMap", "downwardAPI", "projected"):
        if isinstance(v.get(kind), dict):
            v[kind].setdefault("defaultMode", DEFAULT_MODE)
    if isinstance(v.get("hostPath"), dict):
        v["hostPath"].setdefault("type", "")


def default_pod_spec(spec: Obj) -> None:
    """Defaults for any pod spec, pod templates included (``SetDefaults_PodSpec`` and friends)."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    for c in containers_of(spec):
        default_container(c)
    for v in list_of_dicts(spec.get("volumes")):
        default_volume(v)
    # v1 keeps the deprecated `serviceAccount` in step with `serviceAccountName` (conversion)
    if spec.get("serviceAccount") and not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]


def default_pod(pod: Obj) -> None:
    """``SetDefaults_Pod`` on top of :func:`default_pod_spec` (what only real pods get)."""
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    default_pod_spec(spec)
    for c in containers_of(spec):
        resources = c.get("resources")
        if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
            requests = resources.setdefault("requests", {})
            if isinstance(requests, dict):
                for name, value in resources["limits"].items():
                    requests.setdefault(name, value)
    spec.setdefault("enableServiceLinks", True)
    if spec.get("hostNetwork"):
        for c in containers_of(spec):
            for port in list_of_dicts(c.get("ports")):
                if not port.get("hostPort"):
                    port["hostPort"] = port.get("containerPort")


def add_default_tolerations(spec: Obj) -> None:
    """The ``DefaultTolerationSeconds`` admission plugin: tolerate a not-ready or unreachable node
    for 300s unless the pod already tolerates that taint."""
    tolerations = spec.get("tolerations") if isinstance(spec.get("tolerations"), list) else []
    for taint in (NODE_NOT_READY_TAINT, NODE_UNREACHABLE_TAINT):
        if not any(t.get("key", "") in ("", taint) and t.get("effect", "") in ("", "NoExecute")
                   for t in list_of_dicts(tolerations)):
            tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})
    spec["tolerations"] = tolerations


# --- validation (pkg/apis/core/validation) ----------------------------------------------------------

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
            causes += [invalid(at, name, e) for e in qualified_name_errors(name)]
            if "/" not in name and name not in STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
                causes.append(invalid(at, name, "must be a standard resource for containers"))
            try:
                q = parse_quantity(value)
            except QuantityError as e:
                causes.append(invalid(at, value, str(e)))
                continue
            if q.amount < 0:
                causes.append(invalid(at, str(q), "must be greater than or equal to 0"))
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
    names: set[str] = set()
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
        return [line for i, (o, n) in enumerate(zip(old, new)) for line in _changes(o, n, f"{path}[{i}]")]
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
        for c, old_c in zip(munged.get(kind) or [], old_spec.get(kind) or []):
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


# --- printing (printPod) ----------------------------------------------------------------------------


def _sidecars(spec: Obj) -> set[str]:
    """Init containers with ``restartPolicy: Always`` keep running beside the app containers."""
    return {c.get("name", "") for c in list_of_dicts(spec.get("initContainers")) if c.get("restartPolicy") == "Always"}


def _condition(status: Obj, kind: str) -> Obj:
    return find_status_condition(status.get("conditions"), kind) or {}


def _condition_true(status: Obj, kind: str) -> bool:
    return _condition(status, kind).get("status") == "True"


def _last_finished(cs: Obj) -> str:
    return ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt", "")


def _exit_reason(terminated: Obj) -> str:
    if terminated.get("reason"):
        return terminated["reason"]
    return f"Signal:{terminated['signal']}" if terminated.get("signal") else f"ExitCode:{terminated.get('exitCode', 0)}"


def pod_ip(pod: Obj) -> str:
    status = pod.get("status") or {}
    ips = list_of_dicts(status.get("podIPs"))
    return ips[0].get("ip", "") if ips else status.get("podIP", "")


def pod_row_summary(pod: Obj) -> tuple[str, str, int, str]:
    """``(ready, status, restarts, last restart finishedAt)`` as ``printPod`` computes them.

    The status is the phase, or the reason of the most telling container state: ``Init:1/2``,
    ``ContainerCreating``, ``CrashLoopBackOff``, ``Completed``, ``Error``, ``Terminating`` ..."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    sidecars = _sidecars(spec)
    total = len(list_of_dicts(spec.get("containers"))) + len(sidecars)
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last_restart = ""  # RFC 3339 strings compare in time order
    reason = status.get("reason") or status.get("phase", "")
    if _condition(status, "PodScheduled").get("reason") == "SchedulingGated":
        reason = "SchedulingGated"

    initializing = False
    n_init = len(list_of_dicts(spec.get("initContainers")))
    for i, cs in enumerate(list_of_dicts(status.get("initContainerStatuses"))):
        state = cs.get("state") or {}
        restarts += cs.get("restartCount", 0)
        last_restart = max(last_restart, _last_finished(cs))
        sidecar = cs.get("name") in sidecars
        if sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            sidecar_last_restart = max(sidecar_last_restart, _last_finished(cs))
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated is not None:
            reason = "Init:" + _exit_reason(terminated)
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{n_init}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts, last_restart = sidecar_restarts, sidecar_last_restart
        has_running = False
        for cs in reversed(list_of_dicts(status.get("containerStatuses"))):
            state = cs.get("state") or {}
            restarts += cs.get("restartCount", 0)
            last_restart = max(last_restart, _last_finished(cs))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _exit_reason(terminated)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    deleting = bool(pod.get("metadata", {}).get("deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return f"{ready}/{total}", reason, restarts, last_restart


class PodStrategy(Strategy):
    kind = "Pod"
    status_subresource = True
    tracks_generation = True
    columns = (
        Column("Ready", description="Ready containers out of all containers."),
        Column("Status", description="The phase, or the most telling container state."),
        Column("Restarts", description="Container restarts, and how long ago the last one was."),
        AGE_COLUMN,
        Column("IP", priority=1, description="The pod's first IP address."),
        Column("Node", priority=1, description="The node the pod is bound to."),
        Column("Nominated Node", priority=1, description="The node the scheduler preempted for this pod."),
        Column("Readiness Gates", priority=1, description="Readiness gates that are true, out of all."),
    )

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
        ready, reason, restarts, last_restart = pod_row_summary(obj)
        finished = parse_time(last_restart)
        restarts_cell = f"{restarts} ({human_duration((now - finished).total_seconds())} ago)" \
            if restarts and finished else str(restarts)
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        gates = list_of_dicts(spec.get("readinessGates"))
        gates_cell = "<none>"
        if gates:
            true = sum(1 for g in gates if _condition_true(status, g.get("conditionType", "")))
            gates_cell = f"{true}/{len(gates)}"
        return [ready, reason, restarts_cell, age(obj, now), pod_ip(obj) or "<none>", spec.get("nodeName") or "<none>",
                status.get("nominatedNodeName") or "<none>", gates_cell]

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
