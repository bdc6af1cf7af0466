"""What makes one resource different from another: defaulting, validation, status handling, Table
columns and selectable fields.

Mirrors ``k8s.io/apiserver/pkg/registry/rest`` (``RESTCreateStrategy``, ``RESTUpdateStrategy``) and the
per-resource ``strategy.go`` files under ``k8s.io/kubernetes/pkg/registry/<group>/<resource>/``, with
the defaulting of ``pkg/apis/<group>/v1/defaults.go``, the validation of
``pkg/apis/<group>/validation`` and the printers of ``pkg/printers/internalversion/printers.go``.

The generic store (``labkit/apiserver/storage.py``) does what is common to every resource: metadata
(name, generateName, uid, creationTimestamp, resourceVersion, generation, labels, annotations,
finalizers) and its validation. A strategy only adds what its resource needs on top. All methods work
on plain JSON dicts (the wire format) and mutate them in place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from typing import Any

Obj = dict[str, Any]

# --- validation causes (metav1.StatusCause, k8s.io/apimachinery/pkg/util/validation/field) ---------


@dataclasses.dataclass(frozen=True, slots=True)
class Cause:
    """One field error; rendered into ``Status.details.causes``."""

    type: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, ...
    message: str
    field: str

    def as_dict(self) -> Obj:
        return {"reason": self.type, "message": self.message, "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def required(field: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", "Required value" + (f": {detail}" if detail else ""), field)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {_show(value)}: {detail}", field)


def not_supported(field: str, value: Any, supported: list[str]) -> Cause:
    opts = ", ".join(_show(s) for s in supported)
    return Cause("FieldValueNotSupported", f"Unsupported value: {_show(value)}: supported values: {opts}", field)


def duplicate(field: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {_show(value)}", field)


def forbidden(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", field)


def too_long(field: str, value: Any, limit: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: may not be more than {limit} bytes", field)


# --- names (k8s.io/apimachinery/pkg/util/validation) ------------------------------------------------

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def dns1123_label_errors(value: str) -> list[str]:
    """Errors for a DNS-1123 label (namespaces, services, container names ...); empty if valid."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1123_LABEL.match(value):
        errs.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
            "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
            "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        )
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Errors for a DNS-1123 subdomain (most object names); empty if valid."""
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN.match(value):
        errs.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
            "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )
    return errs


_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def dns1035_label_errors(value: str) -> list[str]:
    """Errors for a DNS-1035 label (service names: must start with a letter); empty if valid."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1035_LABEL.match(value):
        errs.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
            "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
        )
    return errs


def path_segment_errors(value: str) -> list[str]:
    """Errors for a name that only has to be a valid path segment (RBAC objects)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    for bad in ("/", "%"):
        if bad in value:
            return [f"may not contain '{bad}'"]
    return []


NAME_RULES = {"subdomain": dns1123_subdomain_errors, "label": dns1123_label_errors, "dns1035": dns1035_label_errors,
              "path": path_segment_errors}

# --- Table (meta.k8s.io/v1 Table, pkg/printers) -----------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    """A ``TableColumnDefinition``; ``priority`` 1 columns show only with ``-o wide``."""

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    def as_dict(self) -> Obj:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


NAME_COLUMN = Column("Name", format="name", description="Name must be unique within a namespace.")
AGE_COLUMN = Column("Age", description="CreationTimestamp is a timestamp representing the server time when this object was created.")


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def human_duration(seconds: float) -> str:
    """kubectl's short duration: ``5s``, ``3m20s``, ``7h``, ``2d3h`` (apimachinery ``duration.HumanDuration``)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    s = max(s, 0)  # one second of clock skew reads as 0s, as in kubectl
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if h < 24 * 365 * 2:
        return f"{d}d"
    if h < 24 * 365 * 8:
        y = d // 365
        return f"{y}y{d % 365}d" if d % 365 else f"{y}y"
    return f"{d // 365}y"


def age(obj: Obj, now: dt.datetime) -> str:
    """The Age cell: time since ``metadata.creationTimestamp``."""
    created = parse_time(obj.get("metadata", {}).get("creationTimestamp"))
    return "<unknown>" if created is None else human_duration((now - created).total_seconds())


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the strategy -----------------------------------------------------------------------------------


class Strategy:
    """Defaults for a resource with no special behaviour; subclasses override what differs."""

    kind: str = ""
    #: how names are validated: "subdomain" (most), "label" (namespaces), "dns1035" (services), "path" (RBAC)
    name_rule: str = "subdomain"
    #: True when the resource has a ``/status`` subresource: writes to the main resource keep the old
    #: status, writes to ``/status`` keep everything but status (and metadata labels/annotations)
    status_subresource: bool = False
    #: True when ``metadata.generation`` is bumped on every change outside metadata and status
    tracks_generation: bool = False
    #: Table columns after Name (include Age where kube-apiserver's printer puts it)
    columns: tuple[Column, ...] = (AGE_COLUMN,)
    #: False when the printer has no leading Name column (Events): then :attr:`columns` and
    #: :meth:`cells` cover the whole row, Name included where the printer puts it
    name_column: bool = True
    #: the field the watch cache indexes watchers by (the cacher's ``IndexerFuncs`` trigger): a watch
    #: whose field selector requires ``field=value`` only looks at changes with that value
    trigger_field: str = "metadata.name"

    def default(self, obj: Obj) -> None:
        """Fill in defaults, as ``SetDefaults_<Kind>`` does; called on create and update."""

    def prepare_for_create(self, obj: Obj) -> None:
        """Reset what a client may not set on create (usually ``status``)."""
        if self.status_subresource:
            obj.pop("status", None)

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        """Carry over what a client may not change through the main resource (usually ``status``)."""
        if self.status_subresource:
            if "status" in old:
                obj["status"] = old["status"]
            else:
                obj.pop("status", None)

    def validate(self, obj: Obj) -> list[Cause]:
        """Errors in the object beyond metadata (``ValidatePod`` ...)."""
        return []

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        """Errors of an update, including changes to immutable fields."""
        return self.validate(obj)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        """The row cells after Name, one per entry of :attr:`columns`."""
        return [age(obj, now)]

    def field_labels(self, obj: Obj) -> dict[str, str]:
        """Fields a ``fieldSelector`` may use beyond ``metadata.name`` and ``metadata.namespace``."""
        return {}
