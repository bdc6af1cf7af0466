"""The Deployment strategy (``pkg/registry/apps/deployment``).

Mirrors ``SetDefaults_Deployment`` (``pkg/apis/apps/v1/defaults.go``), ``ValidateDeploymentSpec`` and
``ValidateDeploymentStrategy`` (``pkg/apis/apps/validation``), the strategy's generation rule (spec
*or annotation* changes bump ``metadata.generation``, because the controller copies annotations onto
ReplicaSets) and ``printDeployment``. Selector and template checks are shared with ReplicaSet
(``registry/replicaset.py``); the ``/scale`` view is in ``registry/scale.py``.

Left out: ``spec.rollbackTo`` (extensions/v1beta1 only), status validation on ``/status`` writes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, forbidden, invalid, not_supported, required
from labkit.apiserver.registry.replicaset import (
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    SELECTOR_COLUMN,
    container_cells,
    default_template,
    invalid_go,
    nonnegative,
    selector_string,
    set_default,
    validate_selector_and_template,
    validate_selector_unchanged,
)
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

_PERCENT = re.compile(r"^[0-9]+%$")


def go_int_or_string(value: Any) -> str:
    """How Go's ``%#v`` prints an ``intstr.IntOrString`` (the value in these messages)."""
    if isinstance(value, str):
        return f'intstr.IntOrString{{Type:1, IntVal:0, StrVal:{json.dumps(value)}}}'
    return f'intstr.IntOrString{{Type:0, IntVal:{value or 0}, StrVal:""}}'


def _int_or_percent(value: Any, path: str) -> tuple[int, list[Cause]]:
    """``ValidatePositiveIntOrPercent`` and the value ``getIntOrPercentValue`` reads (percent as its number)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return 0, [invalid(path, value, "must be an integer or percentage (e.g '5%%')")]  # sic: no Sprintf there
    if isinstance(value, str):
        if not _PERCENT.match(value):
            return 0, [invalid_go(path, go_int_or_string(value),
                                  "a valid percent string must be a numeric string followed by an ending '%' "
                                  "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")]
        return int(value[:-1]), []
    if value < 0:
        return value, [invalid(path, value, "must be greater than or equal to 0")]
    return value, []


def _validate_strategy(strategy: dict[str, Any]) -> list[Cause]:
    kind = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if kind != "RollingUpdate":
        return [not_supported("spec.strategy", strategy, ["Recreate", "RollingUpdate"])]
    path = "spec.strategy.rollingUpdate"
    if rolling is None:
        return [required(path, "this should be defaulted and never be nil")]
    unavailable, causes = _int_or_percent(rolling.get("maxUnavailable"), f"{path}.maxUnavailable")
    surge, surge_causes = _int_or_percent(rolling.get("maxSurge"), f"{path}.maxSurge")
    causes += surge_causes
    if unavailable == 0 and surge == 0:
        causes.append(invalid_go(f"{path}.maxUnavailable", go_int_or_string(rolling.get("maxUnavailable")),
                                 "may not be 0 when `maxSurge` is 0"))
    if isinstance(rolling.get("maxUnavailable"), str) and unavailable > 100:
        causes.append(invalid_go(f"{path}.maxUnavailable", go_int_or_string(rolling["maxUnavailable"]),
                                 "must not be greater than 100%"))
    return causes


class DeploymentStrategy(Strategy):
    kind = "Deployment"
    status_subresource = True
    tracks_generation = True
    columns = (
        Column("Ready", description="Number of the pod with ready state"),
        Column("Up-to-date", description="Number of pods running the newest template."),
        Column("Available", description="Number of pods available (ready for at least minReadySeconds)."),
        AGE_COLUMN, CONTAINERS_COLUMN, IMAGES_COLUMN, SELECTOR_COLUMN,
    )

    def default(self, obj: Obj) -> None:
        spec = set_default(obj, "spec", {})
        set_default(spec, "replicas", 1)
        strategy = set_default(spec, "strategy", {})
        set_default(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = set_default(strategy, "rollingUpdate", {})
            set_default(rolling, "maxUnavailable", "25%")
            set_default(rolling, "maxSurge", "25%")
        set_default(spec, "revisionHistoryLimit", 10)
        set_default(spec, "progressDeadlineSeconds", 600)
        default_template(spec)

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {}

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        super().prepare_for_update(obj, old)
        meta, old_meta = obj.setdefault("metadata", {}), old.get("metadata", {})
        if (meta.get("annotations") or {}) != (old_meta.get("annotations") or {}):
            meta["generation"] = old_meta.get("generation", 1) + 1

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes = nonnegative(spec, "replicas", "spec")
        causes += validate_selector_and_template(spec, kind=self.kind)
        causes += _validate_strategy(spec.get("strategy") or {})
        causes += nonnegative(spec, "minReadySeconds", "spec")
        causes += nonnegative(spec, "revisionHistoryLimit", "spec")
        deadline = spec.get("progressDeadlineSeconds")
        if deadline is not None:
            causes += nonnegative(spec, "progressDeadlineSeconds", "spec")
            if deadline <= spec.get("minReadySeconds", 0):
                causes.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
        return causes

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        return self.validate(obj) + validate_selector_unchanged(obj, old)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status = obj.get("spec", {}), obj.get("status") or {}
        ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}"
        return [ready, status.get("updatedReplicas", 0), status.get("availableReplicas", 0), age(obj, now),
                *container_cells(obj), selector_string(spec.get("selector"))]


STRATEGY = DeploymentStrategy()
