"""The resources this API server serves, and where each lives in the store.

Mirrors the REST storage wiring of ``k8s.io/kubernetes/pkg/registry/*/rest/storage_*.go`` and the
discovery facts kubectl reads (short names, categories, verbs, subresources). Discovery documents,
URL routing and the store layout are all derived from :data:`RESOURCES`; a resource served in more
than one version has one entry per version, the storage (and preferred) version first, the others
with a :class:`Conversion` (``labkit/apiserver/versions.py`` serves them); adding a resource is one
entry here plus its strategy under ``labkit/apiserver/registry/`` (and its storage, if it has storage
of its own, wired in ``rest.py``: ``registry/__init__.py`` says how).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause
from labkit.apiserver.registry import (
    apiservice,
    certificatesigningrequest,
    configmap,
    controllerrevision,
    cronjob,
    csi,
    daemonset,
    deployment,
    endpoints,
    endpointslice,
    event,
    eventsv1,
    horizontalpodautoscaler,
    job,
    lease,
    limitrange,
    namespace,
    node,
    persistentvolume,
    persistentvolumeclaim,
    pod,
    podtemplate,
    priorityclass,
    rbac,
    replicaset,
    replicationcontroller,
    resourcequota,
    secret,
    service,
    serviceaccount,
    statefulset,
    storageclass,
)
from labkit.apiserver.strategy import Strategy

CRUD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclasses.dataclass(frozen=True, slots=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str | None = None  # set when the subresource's kind lives in another group (Scale, Eviction)
    version: str | None = None


STATUS = ("get", "patch", "update")


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, STATUS)


@dataclasses.dataclass(frozen=True, slots=True)
class Conversion:
    """How a version that is not the storage version is served (kube converts through its internal
    version): objects are stored in ``storage_version``, and converted on their way in and out."""

    storage_version: str
    to_storage: Callable[[Obj], Obj]
    from_storage: Callable[[Obj], Obj]
    #: the group whose storage it shares, when it is another group's (events.k8s.io/v1 Events: core/v1's)
    storage_group: str | None = None
    #: checks a create in this version makes before the storage version's (``ValidateEventCreate``)
    validate_create: Callable[[Obj], list[Cause]] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    strategy: Strategy
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = CRUD_VERBS
    subresources: tuple[Subresource, ...] = ()
    storage: str = ""  # key segment under /registry; defaults to the plural
    stored: bool = True  # False for create-only reviews (SelfSubjectAccessReview ...)
    conversion: Conversion | None = None  # set on a version served from another version's storage
    #: served by another server through an APIService (kube-aggregator), never stored here
    aggregated: bool = False

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``pods`` or ``deployments.apps``: how Status messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def key_prefix(self, namespace: str | None = None) -> str:
        base = f"/registry/{self.storage or self.plural}/"
        return f"{base}{namespace}/" if self.namespaced and namespace else base

    def key(self, namespace: str | None, name: str) -> str:
        return f"{self.key_prefix(namespace)}{name}"

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)


_POD_SUBRESOURCES = (
    _status("Pod"),
    Subresource("binding", "Binding", ("create",)),
    Subresource("log", "Pod", ("get",)),
    Subresource("exec", "PodExecOptions", ("create", "get")),
    Subresource("attach", "PodAttachOptions", ("create", "get")),
    Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
    Subresource("eviction", "Eviction", ("create",), group="policy", version="v1"),
)

_HPA_STATUS = _status("HorizontalPodAutoscaler")
_SCALE = Subresource("scale", "Scale", ("get", "patch", "update"), group="autoscaling", version="v1")

RESOURCES: tuple[Resource, ...] = (
    # core/v1
    Resource("", "v1", "namespaces", "Namespace", False, namespace.STRATEGY, ("ns",),
             subresources=(_status("Namespace"), Subresource("finalize", "Namespace", ("update",)))),
    Resource("", "v1", "pods", "Pod", True, pod.STRATEGY, ("po",), ("all",), subresources=_POD_SUBRESOURCES),
    Resource("", "v1", "nodes", "Node", False, node.STRATEGY, ("no",), subresources=(
        _status("Node"), Subresource("proxy", "NodeProxyOptions", ("create", "delete", "get", "patch", "update"))),
             storage="minions"),
    Resource("", "v1", "services", "Service", True, service.STRATEGY, ("svc",), ("all",),
             verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
             subresources=(_status("Service"),), storage="services/specs"),
    Resource("", "v1", "endpoints", "Endpoints", True, endpoints.STRATEGY, ("ep",), storage="services/endpoints"),
    Resource("", "v1", "configmaps", "ConfigMap", True, configmap.STRATEGY, ("cm",)),
    Resource("", "v1", "secrets", "Secret", True, secret.STRATEGY),
    Resource("", "v1", "resourcequotas", "ResourceQuota", True, resourcequota.STRATEGY, ("quota",),
             subresources=(_status("ResourceQuota"),)),
    Resource("", "v1", "limitranges", "LimitRange", True, limitrange.STRATEGY, ("limits",)),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, serviceaccount.STRATEGY, ("sa",),
             subresources=(Subresource("token", "TokenRequest", ("create",), group="authentication.k8s.io",
                                       version="v1"),)),
    Resource("", "v1", "events", "Event", True, event.STRATEGY, ("ev",)),
    Resource("", "v1", "replicationcontrollers", "ReplicationController", True, replicationcontroller.STRATEGY,
             ("rc",), ("all",), subresources=(_status("ReplicationController"), _SCALE)),
    # issue 16's storage (PersistentVolumes, their claims and classes) and StatefulSets
    Resource("", "v1", "persistentvolumes", "PersistentVolume", False, persistentvolume.STRATEGY, ("pv",),
             subresources=(_status("PersistentVolume"),)),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, persistentvolumeclaim.STRATEGY,
             ("pvc",), subresources=(_status("PersistentVolumeClaim"),)),
    Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, storageclass.STRATEGY, ("sc",)),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, statefulset.STRATEGY, ("sts",), ("all",),
             subresources=(_status("StatefulSet"), _SCALE)),
    # apps/v1
    Resource("apps", "v1", "deployments", "Deployment", True, deployment.STRATEGY, ("deploy",), ("all",),
             subresources=(_status("Deployment"), _SCALE)),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, replicaset.STRATEGY, ("rs",), ("all",),
             subresources=(_status("ReplicaSet"), _SCALE)),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, daemonset.STRATEGY, ("ds",), ("all",),
             subresources=(_status("DaemonSet"),)),
    Resource("apps", "v1", "controllerrevisions", "ControllerRevision", True, controllerrevision.STRATEGY),
    # autoscaling/v2, stored, and v1 converted from it
    Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
             horizontalpodautoscaler.STRATEGY, ("hpa",), ("all",), subresources=(_HPA_STATUS,)),
    Resource("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
             horizontalpodautoscaler.STRATEGY, ("hpa",), ("all",), subresources=(_HPA_STATUS,),
             conversion=Conversion("v2", horizontalpodautoscaler.from_v1, horizontalpodautoscaler.to_v1)),
    # batch/v1
    Resource("batch", "v1", "jobs", "Job", True, job.STRATEGY, (), ("all",), subresources=(_status("Job"),)),
    Resource("batch", "v1", "cronjobs", "CronJob", True, cronjob.STRATEGY, ("cj",), ("all",),
             subresources=(_status("CronJob"),)),
    # certificates.k8s.io/v1
    Resource("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest", False,
             certificatesigningrequest.STRATEGY, ("csr",),
             subresources=(_status("CertificateSigningRequest"),
                           Subresource("approval", "CertificateSigningRequest", STATUS))),
    # coordination.k8s.io/v1
    Resource("coordination.k8s.io", "v1", "leases", "Lease", True, lease.STRATEGY),
    # discovery.k8s.io/v1
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True, endpointslice.STRATEGY),
    # rbac.authorization.k8s.io/v1
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True, rbac.ROLE),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, rbac.ROLE_BINDING),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, rbac.CLUSTER_ROLE),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False,
             rbac.CLUSTER_ROLE_BINDING),
    # events.k8s.io/v1: core/v1 Events, converted
    Resource("events.k8s.io", "v1", "events", "Event", True, event.STRATEGY, ("ev",),
             conversion=Conversion("v1", eventsv1.to_core, eventsv1.from_core, storage_group="",
                                   validate_create=eventsv1.validate_create)),
    # scheduling.k8s.io/v1
    Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, priorityclass.STRATEGY, ("pc",)),
    # apiregistration.k8s.io/v1
    Resource("apiregistration.k8s.io", "v1", "apiservices", "APIService", False, apiservice.STRATEGY,
             categories=("api-extensions",), subresources=(_status("APIService"),)),
    # reviews: create-only, never stored
    Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
             Strategy(), verbs=("create",), stored=False),
    Resource("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False,
             Strategy(), verbs=("create",), stored=False),
    Resource("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False,
             Strategy(), verbs=("create",), stored=False),
    Resource("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False,
             Strategy(), verbs=("create",), stored=False),
    # the remaining kinds the official client's create_from_yaml sends for core and storage.k8s.io
    Resource("", "v1", "podtemplates", "PodTemplate", True, podtemplate.STRATEGY),
    Resource("", "v1", "bindings", "Binding", True, Strategy(), verbs=("create",), stored=False),
    Resource("storage.k8s.io", "v1", "csidrivers", "CSIDriver", False, csi.CSI_DRIVER),
    Resource("storage.k8s.io", "v1", "csinodes", "CSINode", False, csi.CSI_NODE),
    Resource("storage.k8s.io", "v1", "csistoragecapacities", "CSIStorageCapacity", True, csi.CSI_STORAGE_CAPACITY),
    Resource("storage.k8s.io", "v1", "volumeattachments", "VolumeAttachment", False, csi.VOLUME_ATTACHMENT,
             subresources=(_status("VolumeAttachment"),)),
    # metrics.k8s.io/v1beta1: metrics-server's, through the APIService v1beta1.metrics.k8s.io
    Resource("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False, Strategy(), verbs=("get", "list"),
             stored=False, aggregated=True),
    Resource("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, Strategy(), verbs=("get", "list"),
             stored=False, aggregated=True),
)

#: API groups in the order discovery lists them (each group's versions in the order of their entries,
#: the preferred first)
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(r.group for r in RESOURCES))

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.group, r.kind): r for r in RESOURCES if r.conversion is None}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


def by_kind(group: str, kind: str) -> Resource | None:
    """The resource of a kind, in its storage version."""
    return _BY_KIND.get((group, kind))
