"""``events.k8s.io/v1`` Events: the core/v1 Events' storage (``/registry/events``), another shape.

Mirrors ``pkg/apis/events/v1/conversion.go`` (through kube's internal Event, which has core/v1's
fields): ``regarding`` is ``involvedObject``, ``note`` is ``message``, ``reportingController`` is
``reportingComponent``, and the fields the new API deprecates keep their core/v1 values under new
names (``deprecatedSource``, ``deprecatedFirstTimestamp``, ``deprecatedLastTimestamp``,
``deprecatedCount``); ``eventTime``, ``series``, ``related``, ``action``, ``reason``,
``reportingInstance`` and ``type`` are the same in both. A create through this API gets the strict
checks of ``ValidateEventCreate`` for events.k8s.io/v1 (:func:`validate_create`) before core/v1's
(:func:`labkit.apiserver.registry.event.validate_event`, whose field paths are core/v1's).

Left out: events.k8s.io/v1beta1, the strict update checks (``ValidateEventUpdate``), the validation
of ``series``.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, invalid, required

API_VERSION = "events.k8s.io/v1"
#: (events.k8s.io/v1 field, core/v1 field) for the fields whose names differ
RENAMED = (("regarding", "involvedObject"), ("note", "message"), ("reportingController", "reportingComponent"),
           ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
           ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"))


def _renamed(obj: Obj, pairs: tuple[tuple[str, str], ...], api_version: str) -> Obj:
    out: Obj = {"apiVersion": api_version, "kind": "Event"}
    if "metadata" in obj:  # metadata first, as every stored object has it
        out["metadata"] = obj["metadata"]
    renames = dict(pairs)
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata"):
            out[renames.get(key, key)] = value
    return out


def to_core(event: Obj) -> Obj:
    """An events.k8s.io/v1 Event as core/v1 stores it."""
    return _renamed(event, RENAMED, "v1")


def from_core(event: Obj) -> Obj:
    """A stored core/v1 Event as events.k8s.io/v1 shows it."""
    return _renamed(event, tuple((core, new) for new, core in RENAMED), API_VERSION)


def validate_create(event: Obj) -> list[Cause]:
    """What ``ValidateEventCreate`` adds for events.k8s.io/v1: a new event must have its time and a
    known type, and may not set the deprecated fields."""
    causes: list[Cause] = []
    if not event.get("eventTime"):
        causes.append(required("eventTime"))
    if event.get("type") not in ("Normal", "Warning"):
        causes.append(invalid("type", "", f"has invalid value: {event.get('type') or ''}"))
    for field in ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"):
        if event.get(field):
            causes.append(invalid(field, "", "needs to be unset"))
    source = event.get("deprecatedSource")
    if isinstance(source, dict) and (source.get("component") or source.get("host")):
        causes.append(invalid("deprecatedSource", "", "needs to be unset"))
    return causes
