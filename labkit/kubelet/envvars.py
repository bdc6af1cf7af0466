"""A container's environment: what ``makeEnvironmentVariables`` (``pkg/kubelet/kubelet_pods.go``) and
``pkg/kubelet/envvars`` compute.

Order, as the kubelet applies it: ``envFrom`` (configMapRef/secretRef, with ``prefix``), then ``env``
(value with ``$(VAR)`` expansion, configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef); then
the Service variables (``<SVC>_SERVICE_HOST``/``_PORT`` and the docker-link ``<SVC>_PORT_...``) fill
in names not already set — for every Service in the pod's namespace when ``enableServiceLinks`` is
true, and for ``kubernetes`` in ``default`` always. A missing non-optional source is a
``CreateContainerConfigError``. Left out: the ``InvalidEnvironmentVariableNames`` event, ``$(VAR)``
expansion of ``envFrom`` values (kube does not expand them either), hugepages resources.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Awaitable, Callable, Mapping

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import parse_quantity
from labkit.kubelet.runtime import CRIError

#: fetches a ConfigMap or Secret: ("configmaps"|"secrets", namespace, name) -> object or None
GetObject = Callable[[str, str, str], Awaitable[Obj | None]]
_EXPAND = re.compile(r"\$\$|\$\(([^)]*)\)")


def config_error(message: str) -> CRIError:
    return CRIError("CreateContainerConfigError", message)


def expand(value: str, env: Mapping[str, str]) -> str:
    """``$(VAR)`` becomes VAR's value when defined (else stays as written); ``$$`` is a literal ``$``."""
    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _EXPAND.sub(repl, value)


def service_env(services: list[Obj]) -> dict[str, str]:
    """``FOO_SERVICE_HOST``, ``FOO_SERVICE_PORT[_NAME]`` and docker-link variables (``envvars.FromServices``)."""
    env: dict[str, str] = {}
    for svc in services:
        ip = svc.get("spec", {}).get("clusterIP", "")
        ports = svc.get("spec", {}).get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        name = svc["metadata"]["name"].upper().replace("-", "_")
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        for p in ports:
            if p.get("name"):
                env[f"{name}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p["port"])
        first = ports[0]
        env[f"{name}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
        for p in ports:
            proto = p.get("protocol", "TCP")
            prefix = f"{name}_PORT_{p['port']}_{proto.upper()}"
            env[prefix] = f"{proto.lower()}://{ip}:{p['port']}"
            env[f"{prefix}_PROTO"] = proto.lower()
            env[f"{prefix}_PORT"] = str(p["port"])
            env[f"{prefix}_ADDR"] = ip
    return env


def field_value(pod: Obj, path: str) -> str:
    """The downward API's ``fieldRef`` (``podFieldSelectorRuntimeValue`` plus ``ExtractFieldPathAsString``)."""
    meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
    simple = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
              "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
              "spec.serviceAccountName": spec.get("serviceAccountName", ""), "status.hostIP": status.get("hostIP", ""),
              "status.podIP": status.get("podIP", ""),
              "status.hostIPs": ",".join(i["ip"] for i in status.get("hostIPs") or []),
              "status.podIPs": ",".join(i["ip"] for i in status.get("podIPs") or [])}
    if path in simple:
        return simple[path]
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    raise config_error(f"unsupported fieldPath: {path}")


def resource_value(container: Obj, ref: Obj, allocatable: Mapping[str, str]) -> str:
    """``resourceFieldRef``: a request or limit (a missing limit is the node's allocatable), in ``divisor`` units,
    rounded up."""
    kind, _, resource = ref["resource"].partition(".")
    value = (container.get("resources", {}).get(kind) or {}).get(resource)
    if value is None:
        value = allocatable.get(resource, "0") if kind == "limits" else "0"
    divisor = parse_quantity(str(ref.get("divisor") or "1")).amount
    amount = parse_quantity(str(value)).amount / (divisor or 1)
    return str(max(math.ceil(amount), 1 if resource == "cpu" and kind == "limits" else 0))


async def _source(get: GetObject, kind: str, namespace: str, name: str, optional: bool) -> Obj | None:
    obj = await get(kind, namespace, name)
    if obj is None and not optional:
        raise config_error(f'{"configmap" if kind == "configmaps" else "secret"} "{name}" not found')
    return obj


def _data(kind: str, obj: Obj) -> dict[str, str]:
    if kind == "configmaps":
        return dict(obj.get("data") or {})
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}


async def make_environment(pod: Obj, container: Obj, *, get: GetObject, services: list[Obj],
                           allocatable: Mapping[str, str]) -> dict[str, str]:
    """The container's environment, in the kubelet's order of precedence."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        for key, kind in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
            ref = source.get(key)
            if ref:
                obj = await _source(get, kind, namespace, ref["name"], bool(ref.get("optional")))
                if obj is not None:
                    for k, v in _data(kind, obj).items():
                        env[source.get("prefix", "") + k] = v
    svc_env = service_env(services)
    for var in container.get("env") or []:
        name, value_from = var["name"], var.get("valueFrom")
        if value_from is None:
            env[name] = expand(var.get("value", ""), {**svc_env, **env})
            continue
        if "fieldRef" in value_from:
            env[name] = field_value(pod, value_from["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in value_from:
            env[name] = resource_value(container, value_from["resourceFieldRef"], allocatable)
        else:
            key, kind, label = (("configMapKeyRef", "configmaps", "ConfigMap") if "configMapKeyRef" in value_from
                                else ("secretKeyRef", "secrets", "Secret"))
            ref = value_from[key]
            optional = bool(ref.get("optional"))
            obj = await _source(get, kind, namespace, ref["name"], optional)
            if obj is None:
                continue
            data = _data(kind, obj)
            if ref["key"] not in data:
                if optional:
                    continue
                raise config_error(f"couldn't find key {ref['key']} in {label} {namespace}/{ref['name']}")
            env[name] = data[ref["key"]]
    for k, v in svc_env.items():
        env.setdefault(k, v)
    return env
