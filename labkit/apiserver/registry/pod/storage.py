"""The pod's REST storage (``pkg/registry/core/pod/storage``): what pods do beyond the generic store.

- :class:`PodRegistry`: graceful deletion. A pod on a node gets a grace period its kubelet honours;
  one never scheduled, or already finished, goes at once (``CheckGracefulDelete``, which kube keeps
  in ``strategy.go``).
- :func:`binding`: ``POST pods/NAME/binding`` (``BindingREST`` in ``storage.go``), the scheduler's
  decision; :func:`legacy_binding`: ``POST namespaces/NS/bindings`` (``LegacyBindingREST``), the same
  with the pod named by the Binding's ``metadata.name``.
- :func:`eviction`: ``POST pods/NAME/eviction`` (``EvictionREST`` in ``eviction.go``), a polite
  delete.

``labkit/apiserver/rest.py`` wires these to pods and their subresources. ``/status`` is the generic
store's (the strategy's ``status_subresource``). The streaming subresources (``log``, ``exec``,
``attach``, ``portforward``; kube's ``pkg/registry/core/pod/rest``) reach a kubelet and are in
``labkit/apiserver/streaming``. Left out: the Binding's annotations (kube copies them onto the
pod), PodDisruptionBudgets (so every eviction is allowed), and the
ephemeralContainers and resize subresources.
"""

from __future__ import annotations

import dataclasses

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apiserver import errors, request
from labkit.apiserver.handlers import Call, _track
from labkit.apiserver.storage import Registry


class PodRegistry(Registry):
    def grace_period(self, obj: Obj, options: Obj) -> int:
        """A pod never scheduled is deleted at once; otherwise the request's grace period or the
        pod's ``terminationGracePeriodSeconds`` (``pod.Strategy.CheckGracefulDelete``)."""
        spec = obj.get("spec", {})
        if not spec.get("nodeName") or obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        return max(int(grace), 0)


def binding(call: Call) -> tuple[int, Obj]:
    """POST pods/NAME/binding: the scheduler's decision. Sets ``spec.nodeName`` once and marks the
    pod ``PodScheduled``; binding an already bound pod is a 409."""
    info = call.info
    body = call.check_fields(request.decode_object(call.body, call.content_type, call.resource, kind="Binding",
                                                   group_version="v1"), group_version="v1", kind="Binding")
    target = body.get("target") or {}
    node = target.get("name")
    if not node:
        raise errors.invalid("Binding", info.name,
                             [errors.Cause("FieldValueRequired", "Required value", "target.name")])
    if target.get("kind", "Node") != "Node":
        raise errors.invalid("Binding", info.name, [errors.Cause("FieldValueNotSupported",
                                                                 f'Unsupported value: "{target["kind"]}"',
                                                                 "target.kind")])
    now = rfc3339(call.now)

    def bind(pod: Obj) -> Obj:
        # what binding changes is replaced, never edited in place: copying those two levels keeps ``before`` whole
        before = {**pod, "spec": {**pod["spec"]}, **({"status": {**pod["status"]}} if "status" in pod else {})}
        current = pod.get("spec", {}).get("nodeName")
        if current:
            raise errors.conflict("pods/binding", info.name, f'pod {info.name} is already assigned to node "{current}"')
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods/binding", info.name, f"pod {info.name} is being deleted, "
                                  "cannot be assigned to a host")
        pod["spec"]["nodeName"] = node
        conditions = [c for c in pod.setdefault("status", {}).get("conditions", []) if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now})
        pod["status"]["conditions"] = conditions
        return _track(call, before, pod, "binding")

    _, call.revision = call.registry.update(info.namespace, info.name, bind, user=call.user, dry_run=call.dry_run,
                                            subresource="binding")
    return 201, _success()


def legacy_binding(call: Call, pods: Registry) -> tuple[int, Obj]:
    """POST namespaces/NS/bindings: :func:`binding` of the pod the Binding names."""
    body = request.decode_object(call.body, call.content_type, call.resource, kind="Binding", group_version="v1")
    name = (body.get("metadata") or {}).get("name") or ""
    if not name:
        raise errors.bad_request("Name parameter required.")
    pods_info = dataclasses.replace(call.info, resource=pods.resource, plural="pods", subresource="binding", name=name)
    return binding(dataclasses.replace(call, info=pods_info, registry=pods))


def eviction(call: Call) -> tuple[int, Obj]:
    """POST pods/NAME/eviction: a polite delete (no PodDisruptionBudgets in labkit, so always allowed)."""
    info = call.info
    body = call.check_fields(request.decode_object(call.body, call.content_type, call.resource, kind="Eviction",
                                                   group_version="policy/v1"),
                             group_version="policy/v1", kind="Eviction")
    if (body.get("metadata") or {}).get("name") not in (None, info.name):
        raise errors.bad_request("name in URL does not match name in Eviction object")
    options = request.checked_delete_options(body.get("deleteOptions") or {}, "v1.DeleteOptions")
    _, _, call.revision = call.registry.delete(info.namespace, info.name, options, user=call.user,
                                               dry_run=call.delete_dry_run(options))
    return 201, _success()


def _success() -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
