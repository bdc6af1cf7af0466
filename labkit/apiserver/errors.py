"""API errors rendered as ``Status`` objects, with kube-apiserver's codes, reasons and messages.

Mirrors ``k8s.io/apimachinery/pkg/api/errors`` (``NewNotFound``, ``NewAlreadyExists``,
``NewConflict``, ``NewInvalid`` ...). Every failure a client can see goes through :class:`ApiError`,
so no request ends in a bare 500 or a traceback. :meth:`ApiError.encode` writes the bytes
kube-apiserver writes for one: ``metav1.Status``'s fields in its Go struct's order (kind, apiVersion,
metadata, status, message, reason, details, code; in details name, group, kind, uid, causes,
retryAfterSeconds; in a cause reason, message, field), empty ones left out as ``omitempty`` leaves
them, compact, with Go's escapes and the newline ``json.Encoder`` ends a value with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labkit import codec
from labkit.apimachinery.validation import Cause, go_quote


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
        if self.details is not None:  # a pointer in Go: an empty one is still written, as {}
            body["details"] = self.details
        body["code"] = self.code
        return body

    def encode(self) -> bytes:
        """The response body, byte for byte as kube-apiserver writes it."""
        return encode_status(self.status())


def encode_status(status: dict[str, Any]) -> bytes:
    """A ``Status`` (built in its field order) as kube-apiserver's JSON serializer writes it: Go's
    compact encoding and escapes, and the newline ``json.Encoder.Encode`` ends it with."""
    return codec.go_dumps(status) + b"\n"


def details(name: str = "", group: str = "", kind: str = "", causes: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """``metav1.StatusDetails`` in its field order, the empty fields left out."""
    fields = {"name": name, "group": group, "kind": kind, "causes": list(causes)}
    return {k: v for k, v in fields.items() if v}


def _details(resource: str, group: str, name: str) -> dict[str, Any]:
    return details(name, group, resource)


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(404, "NotFound", f"{_qualified(resource, group)} {go_quote(name)} not found",
                    _details(resource, group, name))


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(409, "AlreadyExists", f"{_qualified(resource, group)} {go_quote(name)} already exists",
                    _details(resource, group, name))


CONFLICT_MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def conflict(resource: str, name: str, detail: str = CONFLICT_MODIFIED, group: str = "") -> ApiError:
    return ApiError(409, "Conflict", f"Operation cannot be fulfilled on {_qualified(resource, group)} "
                    f"{go_quote(name)}: {detail}", _details(resource, group, name))


def invalid(kind: str, name: str, causes: Sequence[Cause], group: str = "") -> ApiError:
    qualified = f"{kind}.{group}" if group else kind
    messages = list(dict.fromkeys(str(c) for c in causes))  # the aggregate says each message once
    listed = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
    return ApiError(422, "Invalid", f"{qualified} {go_quote(name)} is invalid: {listed}",
                    details(name, group, kind, [c.as_dict() for c in causes]))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def name_mismatch(in_object: Any, on_url: str) -> ApiError:
    """The body names another object than the URL does."""
    return bad_request(f"the name of the object ({in_object}) does not match the name on the URL ({on_url})")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(message: str, resource: str = "", name: str = "", group: str = "") -> ApiError:
    return ApiError(403, "Forbidden", message, _details(resource, group, name))


def method_not_supported(resource: str, verb: str, group: str = "") -> ApiError:
    return ApiError(405, "MethodNotAllowed", f"{verb} is not supported on resources of kind "
                    f"{go_quote(_qualified(resource, group))}", details(group=group, kind=resource))


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
    return ApiError(500, "InternalError", f"Internal error occurred: {message}",
                    details(causes=[{"message": message}]))


def storage(message: str) -> ApiError:
    """An error of etcd that kube-apiserver does not interpret (``etcdserver: request timed out`` when
    etcd has lost its quorum): 500 with etcd's own words and no reason, as ``ErrorToAPIStatus`` answers
    any error that is not a ``Status``."""
    return ApiError(500, "", message)


def too_large_resource_version(wanted: int | str, current: int, retry_after_seconds: int = 0) -> ApiError:
    """``storage.NewTooLargeResourceVersionError``: a 504 (``NewTimeoutError``, hence "Timeout: ") with a
    ResourceVersionTooLarge cause; the watch cache asks the client to retry after a second, etcd does not."""
    found: dict[str, Any] = {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}]}
    if retry_after_seconds:
        found["retryAfterSeconds"] = retry_after_seconds
    return ApiError(504, "Timeout", f"Timeout: Too large resource version: {wanted}, current: {current}", found)


def not_found_path() -> ApiError:
    """A URL that names no resource (kube-apiserver's plain 404)."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})
