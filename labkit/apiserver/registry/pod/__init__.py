"""Pods, split the way Kubernetes splits a pod's API code.

- ``defaults``: ``pkg/apis/core/v1/defaults.go`` (``SetDefaults_PodSpec``, ``SetDefaults_Pod`` ...);
  :func:`default_pod_spec` is what Deployments, ReplicaSets and Jobs call on their pod templates.
- ``validation``: ``pkg/apis/core/validation`` (``ValidatePodSpec``, ``ValidatePodCreate``,
  ``ValidatePodUpdate``, ``ValidatePodTemplateSpec``), and the port, protocol and IP checks that
  Services and Endpoints share.
- ``printing``: ``printPod`` (``pkg/printers/internalversion/printers.go``), the Table.
- ``strategy``: ``pkg/registry/core/pod/strategy.go``, the :class:`PodStrategy` that puts the three
  above together for the generic store, with what happens on create.
- ``storage``: ``pkg/registry/core/pod/storage``: graceful deletion, ``binding`` and ``eviction``.

The QoS class (``pkg/apis/core/helper/qos``) is ``labkit/apimachinery/podutil.py``; the streaming
subresources (log, exec, attach, portforward) are ``labkit/apiserver/streaming``.

This package exports the strategy's side only: ``storage`` builds on the generic store, which needs
the list of resources, which needs this package, so it is imported where the REST storage is wired
(``labkit/apiserver/rest.py``).
"""

from labkit.apiserver.registry.pod.defaults import default_pod, default_pod_spec
from labkit.apiserver.registry.pod.printing import pod_ip, pod_row_summary
from labkit.apiserver.registry.pod.strategy import STRATEGY, PodStrategy
from labkit.apiserver.registry.pod.validation import (
    ip_errors,
    port_name_errors,
    port_number_errors,
    validate_pod,
    validate_pod_spec,
    validate_pod_template,
    validate_pod_update,
    validate_port_number_or_name,
    validate_protocol,
)
from labkit.apiserver.strategy import list_of_dicts

__all__ = [
    "STRATEGY", "PodStrategy", "default_pod", "default_pod_spec", "ip_errors", "list_of_dicts", "pod_ip",
    "pod_row_summary", "port_name_errors", "port_number_errors", "validate_pod", "validate_pod_spec",
    "validate_pod_template", "validate_pod_update", "validate_port_number_or_name", "validate_protocol",
]
