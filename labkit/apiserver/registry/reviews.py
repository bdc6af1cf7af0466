"""The create-only reviews: SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview, and
SubjectAccessReview.

Mirrors ``pkg/registry/authorization/selfsubjectaccessreview/rest.go``,
``pkg/registry/authorization/subjectaccessreview/rest.go`` (the user asked about is the spec's:
``user``, ``groups``, ``uid``, ``extra``; the kubelet-client CSR approver asks through it),
``pkg/registry/authorization/selfsubjectrulesreview/rest.go`` and
``pkg/registry/authentication/selfsubjectreview/rest.go``: a POST is answered from the requesting
user and the authorizer, and nothing is stored, so these resources have no strategy of their own
(``Strategy()`` in ``labkit/apiserver/resources.py``). ``kubectl auth can-i`` and ``kubectl auth
whoami`` ask through here.

Left out: LocalSubjectAccessReview, TokenReview.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import invalid
from labkit.apiserver import errors, request
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.authz import AuthorizationAttributes, Authorizer
from labkit.apiserver.handlers import Call


def review(call: Call, authorizer: Authorizer) -> tuple[int, Obj]:
    """POST a SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview or SubjectAccessReview."""
    res = call.info.resource
    assert res is not None
    body = call.check_fields(request.decode_object(call.body, call.content_type, res))
    user = call.user
    spec = body.get("spec") or {}
    if res.kind == "SubjectAccessReview":
        if not spec.get("user") and not spec.get("groups"):
            raise errors.invalid(res.kind, "", [invalid("spec.user", spec.get("user") or "",
                                                        "at least one of user or group must be specified")], res.group)
        user = UserInfo(spec.get("user") or "", spec.get("uid") or "", tuple(spec.get("groups") or ()),
                        {k: tuple(v) for k, v in (spec.get("extra") or {}).items()})
    if res.kind in ("SelfSubjectAccessReview", "SubjectAccessReview"):
        ra, nra = spec.get("resourceAttributes") or {}, spec.get("nonResourceAttributes") or {}
        if not ra and not nra:
            raise errors.invalid(res.kind, "", [errors.Cause("FieldValueRequired",
                                                             "Required value: exactly one of nonResourceAttributes "
                                                             "or resourceAttributes must be specified",
                                                             "spec.resourceAttributes")],
                                 res.group)
        if ra:
            attrs = AuthorizationAttributes(user, ra.get("verb", ""), True,
                                            ra.get("namespace", ""), ra.get("group", ""), ra.get("resource", ""),
                                            ra.get("subresource", ""), ra.get("name", ""))
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
