"""The ServiceAccount's REST storage: the ``token`` subresource
(``pkg/registry/core/serviceaccount/storage/token.go``, ``pkg/apis/authentication/validation``).

``POST serviceaccounts/NAME/token`` (``kubectl create token``, and the kubelet for each pod's
``kube-api-access`` volume) answers a TokenRequest with a bearer token that authenticates as the
service account, signed by the API server (:mod:`labkit.apiserver.satoken`). As kube's: the
expiry must lie between 10 minutes and 2^32 seconds (default one hour), the audiences default to
the API server's own (its issuer), and a ``boundObjectRef`` to a Pod must name a pod that exists with
that uid. Left out: binding to Secrets and Nodes, and the binding's and expiry's claims in the token
(labkit's authenticator does not end a token's life with its pod or its expiry).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from labkit.apimachinery import validation
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apiserver import errors, request
from labkit.apiserver.handlers import Call
from labkit.apiserver.satoken import ISSUER

TokenIssuer = Callable[[str, list[str]], str]
#: (namespace, name) -> the pod, or None
GetPod = Callable[[str, str], Obj | None]
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 1 << 32


def token_request(call: Call, issue: TokenIssuer, get_pod: GetPod) -> tuple[int, Obj]:
    """POST serviceaccounts/NAME/token: a bearer token that authenticates as the service account."""
    info = call.info
    call.registry.get(info.namespace, info.name)  # 404 if the account does not exist
    body = request.decode_object(call.body, call.content_type, call.resource, kind="TokenRequest",
                                 group_version="authentication.k8s.io/v1")
    spec = body.setdefault("spec", {})
    seconds = spec.get("expirationSeconds") or 3600
    if not isinstance(seconds, int) or not MIN_EXPIRATION_SECONDS <= seconds <= MAX_EXPIRATION_SECONDS:
        detail = ("may not specify a duration less than 10 minutes" if isinstance(seconds, int)
                  and seconds < MIN_EXPIRATION_SECONDS else "may not specify a duration larger than 2^32 seconds")
        raise errors.invalid("TokenRequest", info.name, [validation.invalid("spec.expirationSeconds", seconds, detail)],
                             group="authentication.k8s.io")
    spec["expirationSeconds"] = seconds
    spec["audiences"] = spec.get("audiences") or [ISSUER]
    if spec.get("boundObjectRef"):
        _check_binding(info.namespace, spec["boundObjectRef"], get_pod)
    user = f"system:serviceaccount:{info.namespace}:{info.name}"
    token = "" if call.dry_run else issue(user, ["system:serviceaccounts", f"system:serviceaccounts:{info.namespace}"])
    body["status"] = {"token": token, "expirationTimestamp": rfc3339(call.now + dt.timedelta(seconds=seconds))}
    body.setdefault("metadata", {}).update({"name": info.name, "namespace": info.namespace,
                                            "creationTimestamp": None})
    return 201, body


def _check_binding(namespace: str, ref: Obj, get_pod: GetPod) -> None:
    """A token bound to a Pod needs the pod, with the uid the reference names."""
    if "/" in ref.get("apiVersion", "") or ref.get("kind") != "Pod":  # a group: not the core Pod
        raise errors.bad_request(f"cannot bind token for object of type {_gvk(ref)}")
    pod = get_pod(namespace, ref.get("name", ""))
    if pod is None:
        raise errors.not_found("pods", ref.get("name", ""))
    if ref.get("uid") and ref["uid"] != pod["metadata"].get("uid"):
        raise errors.conflict("Pod", ref["name"], f"the UID in the bound object reference ({ref['uid']}) does not "
                              "match the UID in record. The object might have been deleted and then recreated")


def _gvk(ref: Obj) -> str:
    """``schema.GroupVersionKind.String()``: ``/v1, Kind=Pod``, ``apps/v1, Kind=Deployment``."""
    api_version = ref.get("apiVersion", "")
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={ref.get('kind', '')}"
