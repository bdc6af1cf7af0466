"""What makes one resource different from another: defaulting, validation, status handling, Table
columns and selectable fields.

Mirrors ``k8s.io/apiserver/pkg/registry/rest`` (``RESTCreateStrategy``, ``RESTUpdateStrategy``) and the
per-resource ``strategy.go`` files under ``k8s.io/kubernetes/pkg/registry/<group>/<resource>/``, with
the defaulting of ``pkg/apis/<group>/v1/defaults.go``, the validation of
``pkg/apis/<group>/validation`` and the printers of ``pkg/printers/internalversion/printers.go``.

The generic store (``labkit/apiserver/storage.py``) does what is common to every resource: metadata
(name, generateName, uid, creationTimestamp, resourceVersion, generation, labels, annotations,
finalizers) and its validation. A strategy only adds what its resource needs on top. All methods work
on plain JSON dicts (the wire format) and mutate them in place (:func:`list_of_dicts` reads a list
field whose entries may not all be objects: validation reports those). Field errors (``Cause``, ``invalid``
...) and the name checks are shared with the rest of labkit in ``labkit/apimachinery/validation.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import parse_time
from labkit.apimachinery.validation import (
    Cause,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    path_segment_errors,
)

#: ``Strategy.name_rule`` -> its check (the ``ValidateNameFunc`` of kube's ``ValidateObjectMeta``)
NAME_RULES = {"subdomain": dns1123_subdomain_errors, "label": dns1123_label_errors, "dns1035": dns1035_label_errors,
              "path": path_segment_errors, "any": lambda _name: []}


def list_of_dicts(value: Any) -> list[Obj]:
    """The dict items of a list (malformed entries are reported by validation, not by defaulting)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


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
AGE_COLUMN = Column("Age", description="CreationTimestamp is a timestamp representing the server time when this "
                                       "object was created.")


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


# --- the strategy -----------------------------------------------------------------------------------


class Strategy:
    """Defaults for a resource with no special behaviour; subclasses override what differs."""

    kind: str = ""
    #: how names are validated: "subdomain" (most), "label" (namespaces), "dns1035" (services), "path" (RBAC),
    #: "any" (CertificateSigningRequests: kube checks nothing beyond ObjectMeta's own rules)
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
