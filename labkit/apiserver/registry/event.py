"""The core/v1 Event strategy (``pkg/registry/core/event``).

Validation follows ``ValidateEventCreate`` for core/v1 (``legacyValidateEvent``): an event lives in
the namespace of the object it is about (or ``default`` for cluster-scoped objects); an event with
``eventTime`` set is a "new" event and must also name its reporting controller, instance, action
and reason. Field selectors are the ones ``kubectl describe`` and ``kubectl events --for`` send.

The Table follows ``printEvent``: unlike other resources it has no leading Name column; Last Seen
comes first and Name is the last, wide-only column.

The same storage serves events.k8s.io/v1 (``eventsv1.py`` converts). Left out: update validation of
"new" events, related-object validation and the one-hour TTL (the API server's storage attaches events
to a lease).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import parse_time
from labkit.apimachinery.validation import Cause, dns1123_subdomain_errors, invalid, qualified_name_errors, required
from labkit.apiserver.strategy import NAME_COLUMN, Column, Strategy, human_duration

NAME_LIMIT = 128  # reportingInstance, action, reason
MESSAGE_LIMIT = 1024


def _since(value: str | None, now: dt.datetime) -> str:
    t = parse_time(value)
    return "<unknown>" if t is None else human_duration((now - t).total_seconds())


def validate_event(event: Obj) -> list[Cause]:
    namespace = event.get("metadata", {}).get("namespace", "")
    raw = event.get("involvedObject")
    involved: Obj = raw if isinstance(raw, dict) else {}
    involved_ns = involved.get("namespace", "")
    mismatch = invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    causes: list[Cause] = []
    if not event.get("eventTime"):
        if (involved_ns and namespace != involved_ns) or (not involved_ns and namespace not in ("", "default")):
            causes.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            causes.append(mismatch)
        controller = event.get("reportingComponent", "")
        if not controller:
            causes.append(required("reportingComponent"))
        causes += [invalid("reportingComponent", controller, e) for e in qualified_name_errors(controller)]
        for field in ("reportingInstance", "action", "reason"):
            value = event.get(field, "")
            if not value:
                causes.append(required(field))
            elif len(value) > NAME_LIMIT:
                causes.append(invalid(field, "", f"can have at most {NAME_LIMIT} characters"))
        if len(event.get("message", "")) > MESSAGE_LIMIT:
            causes.append(invalid("message", "", f"can have at most {MESSAGE_LIMIT} characters"))
    causes += [invalid("namespace", namespace, e) for e in dns1123_subdomain_errors(namespace)]
    return causes


def event_source(event: Obj) -> str:
    """``component, host``, falling back to the reporting controller and instance."""
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent", "")
    host = source.get("host") or event.get("reportingInstance", "")
    return f"{component}, {host}" if host else component


class EventStrategy(Strategy):
    kind = "Event"
    name_column = False
    columns = (
        Column("Last Seen", description="When the event was last observed."),
        Column("Type", description="Normal or Warning."),
        Column("Reason", description="Why the event happened, in CamelCase."),
        Column("Object", description="The object the event is about, as kind/name."),
        Column("Subobject", priority=1, description="The part of the object, such as a container."),
        Column("Source", priority=1, description="The component, and host, that reported it."),
        Column("Message", description="What happened, for a human."),
        Column("First Seen", priority=1, description="When the event was first observed."),
        Column("Count", priority=1, description="How many times it happened."),
        dataclasses.replace(NAME_COLUMN, priority=1),
    )

    def validate(self, obj: Obj) -> list[Cause]:
        return validate_event(obj)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        first = _since(obj.get("firstTimestamp") or obj.get("eventTime"), now)
        last = _since(obj["lastTimestamp"], now) if obj.get("lastTimestamp") else first
        count = obj.get("count") or 1
        series = obj.get("series")
        if isinstance(series, dict):
            last, count = _since(series.get("lastObservedTime"), now), series.get("count", count)
        involved = obj.get("involvedObject") or {}
        kind = involved.get("kind", "").lower()
        target = f"{kind}/{involved['name']}" if involved.get("name") else kind
        name = obj.get("metadata", {}).get("name", "")
        return [last, obj.get("type", ""), obj.get("reason", ""), target, involved.get("fieldPath", ""),
                event_source(obj), obj.get("message", "").strip(), first, count, name]

    def field_labels(self, obj: Obj) -> dict[str, str]:
        involved = obj.get("involvedObject") or {}
        labels = {f"involvedObject.{f}": str(involved.get(f, ""))
                  for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
        return {**labels, "reason": obj.get("reason", ""), "reportingComponent": obj.get("reportingComponent", ""),
                "source": (obj.get("source") or {}).get("component") or obj.get("reportingComponent", ""),
                "type": obj.get("type", "")}


STRATEGY = EventStrategy()
