"""Which kubelet and which container a streaming request is for, and its query options.

Mirrors ``pkg/registry/core/pod/strategy.go`` (``LogLocation``, ``ExecLocation``,
``AttachLocation``, ``PortForwardLocation``, ``validateContainer``) and the option checks of
``pkg/apis/core/validation`` (``ValidatePodLogOptions``). Unlike kube-apiserver, labkit also honours the
``kubectl.kubernetes.io/default-container`` annotation when no container is named (kubectl does that
on its side). Left out: ``sinceTime``, ephemeral containers' separate naming, ``insecureSkipTLSVerifyBackend``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from labkit.apimachinery.validation import invalid
from labkit.apiserver import errors, handlers, request
from labkit.apiserver.streaming.kubelet_api import KubeletAPI

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclasses.dataclass(frozen=True)
class Target:
    """The pod (and container) a streaming request reaches, and the kubelet of its node."""

    kubelet: KubeletAPI
    pod: dict[str, Any]
    container: str

    @property
    def namespace(self) -> str:
        return self.pod["metadata"]["namespace"]

    @property
    def name(self) -> str:
        return self.pod["metadata"]["name"]

    @property
    def running(self) -> bool:
        return self.pod.get("status", {}).get("phase") == "Running"


def query_bool(query: Mapping[str, str], key: str) -> bool:
    """A boolean query parameter, read as Go's ``strconv.ParseBool`` reads it (the Python client sends ``True``)."""
    value = query.get(key)
    if value is None or value == "":
        return False
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise errors.bad_request(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def query_int(query: Mapping[str, str], key: str) -> int | None:
    value = query.get(key)
    if value is None or value == "":
        return None
    return request.parse_int64(value)


def _container_names(spec: Mapping[str, Any]) -> list[str]:
    """Init, regular, then ephemeral containers: the order ``VisitContainers`` walks them in."""
    return [c["name"] for key in ("initContainers", "containers", "ephemeralContainers") for c in spec.get(key) or []]


def validate_container(pod: Mapping[str, Any], container: str) -> str:
    """The container a request means; 400 when none is named and the pod has several, or it names none of them."""
    name = pod["metadata"]["name"]
    spec = pod.get("spec", {})
    names = _container_names(spec)
    if not container:
        container = (pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION, "")
        if container not in names:
            regular = spec.get("containers") or []
            if not regular:
                raise errors.bad_request(f"a container name must be specified for pod {name}")
            if len(regular) > 1:
                raise errors.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")
            container = regular[0]["name"]
    elif container not in names:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    return container


def target(kubelets: Mapping[str, KubeletAPI], call: handlers.Call, *, needs_container: bool = True) -> Target:
    """Look the pod up again (the caller checked it exists and is bound) and find its node's kubelet."""
    pod = call.registry.get(call.info.namespace, call.info.name)
    container = validate_container(pod, call.query.get("container", "")) if needs_container else ""
    node = pod["spec"]["nodeName"]
    kubelet = kubelets.get(node)
    if kubelet is None:  # kube-apiserver cannot dial the node's kubelet
        raise errors.internal(f'error dialing backend: no kubelet is serving node "{node}"')
    return Target(kubelet=kubelet, pod=pod, container=container)


@dataclasses.dataclass(frozen=True)
class LogOptions:
    """``PodLogOptions`` from the query."""

    follow: bool
    tail_lines: int | None
    since_seconds: int | None
    timestamps: bool
    previous: bool
    limit_bytes: int | None

    @classmethod
    def from_query(cls, query: Mapping[str, str], pod_name: str) -> LogOptions:
        opts = cls(follow=query_bool(query, "follow"), tail_lines=query_int(query, "tailLines"),
                   since_seconds=query_int(query, "sinceSeconds"), timestamps=query_bool(query, "timestamps"),
                   previous=query_bool(query, "previous"), limit_bytes=query_int(query, "limitBytes"))
        causes = []
        if opts.tail_lines is not None and opts.tail_lines < 0:
            causes.append(invalid("tailLines", opts.tail_lines, "must be greater than or equal to 0"))
        if opts.limit_bytes is not None and opts.limit_bytes < 1:
            causes.append(invalid("limitBytes", opts.limit_bytes, "must be greater than 0"))
        if opts.since_seconds is not None and opts.since_seconds < 1:
            causes.append(invalid("sinceSeconds", opts.since_seconds, "must be greater than 0"))
        if causes:
            raise errors.invalid("PodLogOptions", pod_name, causes)
        return opts
