"""Objects for controller unit tests, as the API server would hold them (kube's tests' ``newPod``,
``newReplicaSet`` ...): only the fields a controller reads, with fixed uids and times."""

from __future__ import annotations

from typing import Any

from labkit.apimachinery.meta import Obj

NS = "default"
T0 = "2026-01-01T11:00:00Z"  # an hour before the fake clock starts (labkit.testing.clock.EPOCH)


def owner(obj: Obj) -> Obj:
    """The controller ownerReference to ``obj`` (``metav1.NewControllerRef``)."""
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def meta(name: str, namespace: str | None = NS, **extra: Any) -> Obj:
    out: Obj = {"name": name, "uid": f"uid-{name}", "creationTimestamp": T0, "resourceVersion": "1"}
    if namespace:
        out["namespace"] = namespace
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def namespace(name: str, *, terminating: bool = False) -> Obj:
    ns: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, None),
               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    if terminating:
        ns["metadata"]["deletionTimestamp"] = T0
        ns["status"]["phase"] = "Terminating"
    return ns


def ready_condition(status: str = "True", since: str = T0) -> Obj:
    return {"type": "Ready", "status": status, "lastTransitionTime": since}


def pod(name: str, *, labels: dict[str, str] | None = None, owned_by: Obj | None = None, node: str = "",
        phase: str = "Running", ready: bool | None = None, ready_since: str = T0, ip: str = "",
        created: str = T0, restarts: list[int] | None = None, cost: int | None = None,
        deleting: bool = False, namespace: str = NS, ports: list[Obj] | None = None,
        tolerations: list[Obj] | None = None, reason: str = "") -> Obj:
    """A pod; ``ready`` None: Running pods are Ready, others not."""
    ready = phase == "Running" if ready is None else ready
    m = meta(name, namespace, labels=labels or {"app": "web"}, creationTimestamp=created,
             ownerReferences=[owner(owned_by)] if owned_by is not None else None,
             annotations={"controller.kubernetes.io/pod-deletion-cost": str(cost)} if cost is not None else None,
             deletionTimestamp=T0 if deleting else None)
    status: Obj = {"phase": phase, "conditions": [ready_condition("True" if ready else "False", ready_since)]}
    if ip:
        status["podIP"] = ip
    if reason:
        status["reason"] = reason
    if restarts is not None:
        status["containerStatuses"] = [{"name": f"c{i}", "restartCount": n} for i, n in enumerate(restarts)]
    spec: Obj = {"containers": [{"name": "c", "image": "nginx", **({"ports": ports} if ports else {})}]}
    if node:
        spec["nodeName"] = node
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": spec, "status": status}


def template(labels: dict[str, str] | None = None, image: str = "nginx:1.25") -> Obj:
    return {"metadata": {"labels": dict(labels or {"app": "web"})},
            "spec": {"containers": [{"name": "c", "image": image}]}}


def replicaset(name: str = "web", replicas: int = 3, *, labels: dict[str, str] | None = None,
               owned_by: Obj | None = None, status: Obj | None = None, min_ready: int = 0, generation: int = 1,
               annotations: dict[str, str] | None = None, tmpl: Obj | None = None, created: str = T0) -> Obj:
    labels = labels or {"app": "web"}
    spec: Obj = {"replicas": replicas, "selector": {"matchLabels": dict(labels)}, "template": tmpl or template(labels)}
    if min_ready:
        spec["minReadySeconds"] = min_ready
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": meta(name, labels=dict(labels), generation=generation, annotations=annotations,
                             creationTimestamp=created,
                             ownerReferences=[owner(owned_by)] if owned_by is not None else None),
            "spec": spec, "status": status or {}}


def rs_status(replicas: int, *, ready: int | None = None, available: int | None = None, generation: int = 1) -> Obj:
    """A ReplicaSet's status as its controller writes it when all ``replicas`` pods are counted."""
    ready = replicas if ready is None else ready
    return {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": ready,
            "availableReplicas": ready if available is None else available, "observedGeneration": generation}


def deployment(name: str = "web", replicas: int = 3, *, image: str = "nginx:1.25", strategy: Obj | None = None,
               generation: int = 1, annotations: dict[str, str] | None = None, status: Obj | None = None,
               **spec: Any) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta(name, generation=generation, annotations=annotations),
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "strategy": strategy or {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": template(labels, image), **spec},
            "status": status or {}}


def service(name: str = "web", *, selector: dict[str, str] | None = None, ports: list[Obj] | None = None,
            **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name),
            "spec": {**({"selector": selector} if selector is not None else {}),
                     "ports": ports if ports is not None else [{"name": "http", "port": 80, "targetPort": 8080,
                                                                 "protocol": "TCP"}], **spec}}


def node(name: str, *, ready: str | None = "True", heartbeat: str = T0, taints: list[Obj] | None = None,
         unschedulable: bool = False, pod_cidr: str = "", created: str = T0) -> Obj:
    n: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": meta(name, None, creationTimestamp=created),
              "spec": {}, "status": {"conditions": []}}
    if ready is not None:
        n["status"]["conditions"].append({"type": "Ready", "status": ready, "reason": "KubeletReady",
                                          "message": "kubelet is posting ready status",
                                          "lastHeartbeatTime": heartbeat, "lastTransitionTime": T0})
    if taints:
        n["spec"]["taints"] = taints
    if unschedulable:
        n["spec"]["unschedulable"] = True
    if pod_cidr:
        n["spec"]["podCIDR"], n["spec"]["podCIDRs"] = pod_cidr, [pod_cidr]
    return n


def lease(node_name: str, renewed: str) -> Obj:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": meta(node_name, "kube-node-lease", uid=f"uid-lease-{node_name}"),
            "spec": {"holderIdentity": node_name, "leaseDurationSeconds": 40, "renewTime": renewed}}


def job(name: str = "work", **spec: Any) -> Obj:
    uid = f"uid-{name}"
    labels = {"batch.kubernetes.io/controller-uid": uid, "job-name": name}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(name, generation=1),
            "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 6, **spec,
                     "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {}}


def configmap(name: str, namespace: str = NS, data: dict[str, str] | None = None, **metadata: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, namespace, **metadata),
            "data": data or {}}
