"""Subresources with behaviour of their own, and the create-only review resources.

Mirrors ``pkg/registry/core/pod/storage`` (``BindingREST``, ``EvictionREST``),
``pkg/registry/apps/deployment/storage`` (``ScaleREST``), ``pkg/registry/core/namespace/storage``
(``FinalizeREST``), ``pkg/registry/core/serviceaccount/storage`` (``TokenREST``) and the
``authorization.k8s.io`` / ``authentication.k8s.io`` self-reviews. The streaming pod subresources
(log, exec, attach, portforward) reach a kubelet and come with the node components.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apiserver import errors, request
from labkit.apiserver.authz import AuthorizationAttributes, Authorizer
from labkit.apiserver.handlers import Call, _track, patch_failed
from labkit.apiserver.registry.scale import apply_scale, scale_of, validate_scale

TokenIssuer = Callable[[str, list[str]], str]


def binding(call: Call) -> tuple[int, Obj]:
    """POST pods/NAME/binding: the scheduler's decision. Sets ``spec.nodeName`` once and marks the
    pod ``PodScheduled``; binding an already bound pod is a 409."""
    info = call.info
    body = call.check_fields(request.decode_object(call.body, call.content_type, info.resource, kind="Binding",
                                                   group_version="v1"), group_version="v1", kind="Binding")
    target = body.get("target") or {}
    node = target.get("name")
    if not node:
        raise errors.invalid("Binding", info.name, [errors.Cause("FieldValueRequired", "Required value", "target.name")])
    if target.get("kind", "Node") != "Node":
        raise errors.invalid("Binding", info.name, [errors.Cause("FieldValueNotSupported",
                                                                 f'Unsupported value: "{target["kind"]}"', "target.kind")])
    now = rfc3339(call.now)

    def bind(pod: Obj) -> Obj:
        # what binding changes is replaced, never edited in place: copying those two levels keeps ``before`` whole
        before = {**pod, "spec": {**pod["spec"]}, **({"status": {**pod["status"]}} if "status" in pod else {})}
        current = pod.get("spec", {}).get("nodeName")
        if current:
            raise errors.conflict("pods/binding", info.name, f'pod {info.name} is already assigned to node "{current}"')
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods/binding", info.name, f"pod {info.name} is being deleted, cannot be assigned to a host")
        pod["spec"]["nodeName"] = node
        conditions = [c for c in pod.setdefault("status", {}).get("conditions", []) if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now})
        pod["status"]["conditions"] = conditions
        return _track(call, before, pod, "binding")

    _, call.revision = call.registry.update(info.namespace, info.name, bind, user=call.user, dry_run=call.dry_run,
                                            subresource="binding")
    return 201, _success()


def eviction(call: Call) -> tuple[int, Obj]:
    """POST pods/NAME/eviction: a polite delete (no PodDisruptionBudgets in labkit, so always allowed)."""
    info = call.info
    body = call.check_fields(request.decode_object(call.body, call.content_type, info.resource, kind="Eviction",
                                                   group_version="policy/v1"), group_version="policy/v1", kind="Eviction")
    if (body.get("metadata") or {}).get("name") not in (None, info.name):
        raise errors.bad_request("name in URL does not match name in Eviction object")
    options = request.checked_delete_options(body.get("deleteOptions") or {}, "v1.DeleteOptions")
    _, _, call.revision = call.registry.delete(info.namespace, info.name, options, user=call.user,
                                               dry_run=call.delete_dry_run(options))
    return 201, _success()


def get_scale(call: Call) -> tuple[int, Obj]:
    return 200, scale_of(call.registry.get(call.info.namespace, call.info.name))


def write_scale(call: Call) -> tuple[int, Obj]:
    """PUT or PATCH .../scale: computed on the Scale view, written back as ``spec.replicas``."""
    reg, info = call.registry, call.info
    if call.info.verb == "update":
        scale = request.decode_object(call.body, call.content_type, info.resource, kind="Scale",
                                      group_version="autoscaling/v1")
    else:
        scale = _patched_scale(call)
    call.check_fields(scale, group_version="autoscaling/v1", kind="Scale")
    if (scale.get("metadata") or {}).get("name") not in (None, info.name):
        raise errors.name_mismatch(scale["metadata"]["name"], info.name)
    causes = validate_scale(scale)
    if causes:
        raise errors.invalid("Scale", info.name, causes, "autoscaling")

    def mutate(obj: Obj) -> Obj:
        return _track(call, obj, apply_scale(obj, scale), "scale")

    updated, call.revision = reg.update(info.namespace, info.name, mutate, user=call.user, dry_run=call.dry_run)
    return 200, scale_of(updated)


def _patched_scale(call: Call) -> Obj:
    """Apply the PATCH body to the current Scale view (patch types work on Scale, not the parent)."""
    from labkit.apiserver import patch

    current = scale_of(call.registry.get(call.info.namespace, call.info.name))
    mt = request.media_type(call.content_type)
    doc = request.decode_body(call.body, call.content_type, allowed=(request.MERGE_PATCH, request.STRATEGIC_PATCH,
                                                                     request.JSON_PATCH))
    try:
        if mt == request.JSON_PATCH:
            return patch.apply_json_patch(current, doc)
        return patch.apply_merge_patch(current, doc)
    except patch.PatchError as e:
        raise patch_failed(e) from None


def finalize(call: Call) -> tuple[int, Obj]:
    """PUT namespaces/NAME/finalize: only ``spec.finalizers`` changes; an emptied, terminating
    namespace is then removed."""
    info = call.info
    body = call.check_fields(request.decode_object(call.body, call.content_type, info.resource))
    if (body.get("metadata") or {}).get("name") not in (None, info.name):
        raise errors.name_mismatch(body["metadata"]["name"], info.name)
    finalizers = (body.get("spec") or {}).get("finalizers") or []

    def mutate(ns: Obj) -> Obj:
        ns.setdefault("spec", {})["finalizers"] = finalizers
        if not finalizers:
            ns["spec"].pop("finalizers")
        return ns

    updated, call.revision = call.registry.update("", info.name, mutate, user=call.user, dry_run=call.dry_run,
                                                  subresource="finalize")
    return 200, updated


def token_request(call: Call, issue: TokenIssuer) -> tuple[int, Obj]:
    """POST serviceaccounts/NAME/token: a bearer token that authenticates as the service account."""
    info = call.info
    call.registry.get(info.namespace, info.name)  # 404 if the account does not exist
    body = request.decode_object(call.body, call.content_type, info.resource, kind="TokenRequest",
                                 group_version="authentication.k8s.io/v1")
    spec = body.setdefault("spec", {})
    seconds = int(spec.get("expirationSeconds") or 3600)
    spec["expirationSeconds"] = seconds
    user = f"system:serviceaccount:{info.namespace}:{info.name}"
    token = "" if call.dry_run else issue(user, ["system:serviceaccounts", f"system:serviceaccounts:{info.namespace}"])
    body["status"] = {"token": token, "expirationTimestamp": rfc3339(call.now + dt.timedelta(seconds=seconds))}
    body.setdefault("metadata", {}).update({"name": info.name, "namespace": info.namespace,
                                            "creationTimestamp": None})
    return 201, body


def review(call: Call, authorizer: Authorizer) -> tuple[int, Obj]:
    """POST a SelfSubjectAccessReview, SelfSubjectRulesReview or SelfSubjectReview."""
    res = call.info.resource
    assert res is not None
    body = call.check_fields(request.decode_object(call.body, call.content_type, res))
    user = call.user
    spec = body.get("spec") or {}
    if res.kind == "SelfSubjectAccessReview":
        ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if not ra and not nra:
            raise errors.invalid(res.kind, "", [errors.Cause("FieldValueRequired", "Required value: exactly one of "
                                 "nonResourceAttributes or resourceAttributes must be specified", "spec.resourceAttributes")],
                                 res.group)
        if ra:
            attrs = AuthorizationAttributes(user, ra.get("verb", ""), True, ra.get("namespace", ""), ra.get("group", ""),
                                            ra.get("resource", ""), ra.get("subresource", ""), ra.get("name", ""))
        else:
            attrs = AuthorizationAttributes(user, nra.get("verb", ""), False, path=nra.get("path", ""))
        allowed, reason = authorizer.authorize(attrs)
        body["status"] = {"allowed": allowed, **({"reason": reason} if reason else {})}
    elif res.kind == "SelfSubjectRulesReview":
        rules, non_resource = authorizer.rules_for(user, spec.get("namespace", ""))
        body["status"] = {"resourceRules": rules, "nonResourceRules": non_resource, "incomplete": False}
    else:
        info: Obj = {"username": user.name, "groups": list(user.groups)}
        if user.uid:
            info["uid"] = user.uid
        if user.extra:
            info["extra"] = {k: list(v) for k, v in user.extra.items()}
        body["status"] = {"userInfo": info}
    body.setdefault("metadata", {})["creationTimestamp"] = None
    return 201, body


def _success() -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

