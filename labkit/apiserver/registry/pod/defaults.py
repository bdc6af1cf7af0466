"""Pod defaulting (``pkg/apis/core/v1/defaults.go``).

- :func:`default_pod_spec`: ``SetDefaults_PodSpec``, ``SetDefaults_Container``, ``SetDefaults_Probe``,
  ``SetDefaults_HTTPGetAction``, ``SetDefaults_ObjectFieldSelector``, the volume sources'
  ``defaultMode`` and ``hostPath`` type, and ``SetDefaults_ResourceList``: what any pod spec gets, so
  Deployments, ReplicaSets and Jobs call it on their templates. The v1 conversion that keeps the
  deprecated ``serviceAccount`` in step with ``serviceAccountName`` is here too.
- :func:`default_pod`: ``SetDefaults_Pod``, what only real pods get: requests default to limits,
  ``enableServiceLinks``, and host ports on a host-network pod.

Left out: the resize policy defaults (in-place resize), the projected service-account token's
``expirationSeconds``, and the defaults of the in-tree volume plugins (iSCSI, Azure disk, ScaleIO).
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.podutil import containers_of
from labkit.apimachinery.resource import default_resource_list
from labkit.apiserver.strategy import list_of_dicts

DEFAULT_MODE = 0o644  # secret, configMap, downwardAPI and projected volumes


def image_tag(image: str) -> str:
    """The tag of an image reference ("" when there is none or it is pinned by digest only)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


def default_container(c: Obj) -> None:
    if not c.get("imagePullPolicy"):
        raw = c.get("image")
        image = raw if isinstance(raw, str) else ""
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
