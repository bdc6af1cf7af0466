"""The ControllerRevision strategy (``pkg/registry/apps/controllerrevision``).

A ControllerRevision is an immutable snapshot of a controller's template (``data``) with its
``revision`` number: the DaemonSet and StatefulSet controllers write one per template, and ``kubectl
rollout history/undo daemonset|statefulset`` read them. Mirrors ``ValidateControllerRevision`` and
``ValidateControllerRevisionUpdate`` (``pkg/apis/apps/validation``: ``data`` is required and may not
change, ``revision`` is not negative) and ``printControllerRevision`` (the CONTROLLER cell is the
controller's ``<kind>.<group>/<name>``). Left out: ``MaxControllerRevisionSize``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj, get_controller_of
from labkit.apimachinery.validation import Cause, invalid, required
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age


def controller_name(obj: Obj) -> str:
    """``daemonset.apps/fluentd``: the controller as ``formatResourceName`` names it, or ``<none>``."""
    ref = get_controller_of(obj)
    if ref is None:
        return "<none>"
    group = ref.get("apiVersion", "").rpartition("/")[0]  # "" for the core group's "v1"
    kind = f"{ref.get('kind', '')}.{group}" if group else ref.get("kind", "")
    return f"{kind.lower()}/{ref.get('name', '')}"


class ControllerRevisionStrategy(Strategy):
    kind = "ControllerRevision"
    columns = (
        Column("Controller", description="Controller of the object"),
        Column("Revision", "integer", description="Revision indicates the revision of the state represented by Data."),
        AGE_COLUMN,
    )

    def validate(self, obj: Obj) -> list[Cause]:
        causes = [required("data", "data is mandatory")] if obj.get("data") is None else []
        if obj.get("revision", 0) < 0:
            causes.append(invalid("revision", obj["revision"], "must be greater than or equal to 0"))
        return causes

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = self.validate(obj)
        if obj.get("data") != old.get("data"):
            causes.append(Cause("FieldValueInvalid", "Invalid value: \"object\": field is immutable", "data"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [controller_name(obj), obj.get("revision", 0), age(obj, now)]


STRATEGY = ControllerRevisionStrategy()
