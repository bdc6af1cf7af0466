"""API errors rendered as ``Status`` objects, with kube-apiserver's codes, reasons and messages.

Mirrors ``k8s.io/apimachinery/pkg/api/errors`` (``NewNotFound``, ``NewAlreadyExists``,
``NewConflict``, ``NewInvalid`` ...). Every failure a client can see goes through :class:`ApiError`,
so no request ends in a bare 500 or a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labkit.apimachinery.validation import Cause


class ApiError(Exception):
    """An error answered as a ``Status`` with this code and reason."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message}
        if self.reason:  # omitempty: an error kube does not interpret has none
            body["reason"] = self.reason
        if self.details:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(resource: str, group: str, name: str) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        d["group"] = group
    return d


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(404, "NotFound", f'{_qualified(resource, group)} "{name}" not found',
                    _details(resource, group, name))


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_qualified(resource, group)} "{name}" already exists',
                    _details(resource, group, name))


CONFLICT_MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def conflict(resource: str, name: str, detail: str = CONFLICT_MODIFIED, group: str = "") -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(resource, group)} '
                    f'"{name}": {detail}', _details(resource, group, name))


def invalid(kind: str, name: str, causes: Sequence[Cause], group: str = "") -> ApiError:
    qualified = f"{kind}.{group}" if group else kind
    messages = list(dict.fromkeys(str(c) for c in causes))  # the aggregate says each message once
    listed = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": [c.as_dict() for c in causes]}
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {listed}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def name_mismatch(in_object: Any, on_url: str) -> ApiError:
    """The body names another object than the URL does."""
    return bad_request(f"the name of the object ({in_object}) does not match the name on the URL ({on_url})")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(message: str, resource: str = "", name: str = "", group: str = "") -> ApiError:
    return ApiError(403, "Forbidden", message, _details(resource, group, name) if resource else None)


def method_not_supported(resource: str, verb: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", f"{verb} is not supported on resources of kind \"{resource}\"")


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def too_large() -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")


def unsupported_media_type(content_type: str, accepted: Sequence[str]) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - "
                    f"accepted media types include: {', '.join(accepted)}",
                    None)


def unprocessable(message: str) -> ApiError:
    """A 422 with no causes (a patch that cannot be applied, a watch option that is not allowed)."""
    return ApiError(422, "Invalid", message)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def storage(message: str) -> ApiError:
    """An error of etcd that kube-apiserver does not interpret (``etcdserver: request timed out`` when
    etcd has lost its quorum): 500 with etcd's own words and no reason, as ``ErrorToAPIStatus`` answers
    any error that is not a ``Status``."""
    return ApiError(500, "", message)


def timeout(message: str) -> ApiError:
    return ApiError(504, "Timeout", message)


def not_found_path() -> ApiError:
    """A URL that names no resource (kube-apiserver's plain 404)."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})
