"""Authorization: may this user do this verb on this resource?

Mirrors ``k8s.io/apiserver/pkg/authorization/authorizer`` (``Attributes``, ``Authorizer``,
``RuleResolver``). Two authorizers fit this seam: :class:`labkit.apiserver.rbac.RBACAuthorizer`
(a cluster's default) and ``AlwaysAllow`` (kube-apiserver's ``--authorization-mode=AlwaysAllow``).
``system:masters`` is always allowed, as in kube-apiserver.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from labkit.apiserver.authn import UserInfo


@dataclasses.dataclass(frozen=True, slots=True)
class AuthorizationAttributes:
    user: UserInfo
    verb: str
    is_resource: bool
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""


class Authorizer(Protocol):
    def authorize(self, attrs: AuthorizationAttributes) -> tuple[bool, str]:
        """(allowed, reason)."""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(resourceRules, nonResourceRules) as a SelfSubjectRulesReview reports them."""


class AlwaysAllow:
    def authorize(self, attrs: AuthorizationAttributes) -> tuple[bool, str]:
        return True, ""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                [{"verbs": ["*"], "nonResourceURLs": ["*"]}])


def forbidden_message(attrs: AuthorizationAttributes, reason: str) -> str:
    """kube-apiserver's 403 text (``k8s.io/apiserver/pkg/endpoints/handlers/responsewriters``)."""
    who = f'User "{attrs.user.name}"'
    if not attrs.is_resource:
        msg = f'forbidden: {who} cannot {attrs.verb} path "{attrs.path}"'
    else:
        res = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
        qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
        subject = f'{qualified} "{attrs.name}"' if attrs.name else qualified
        msg = f'{subject} is forbidden: {who} cannot {attrs.verb} resource "{res}" in API group "{attrs.group}"'
        msg += f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    return f"{msg}: {reason}" if reason else msg
