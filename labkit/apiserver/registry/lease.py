"""The Lease strategy (``pkg/registry/coordination/lease``).

Mirrors ``ValidateLeaseSpec`` (``pkg/apis/coordination/validation``) and ``printLease``. Leases are
how kubelets heartbeat (namespace ``kube-node-lease``) and how controllers elect a leader.

Left out: coordinated leader election (``spec.strategy`` is only checked against the one built-in
value, ``OldestEmulationVersion``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, forbidden, invalid, not_supported
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age


class LeaseStrategy(Strategy):
    kind = "Lease"
    columns = (Column("Holder", description="Identity of the current holder of the lease."), AGE_COLUMN)

    def validate(self, obj: Obj) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes = []
        duration = spec.get("leaseDurationSeconds")
        if duration is not None and duration <= 0:
            causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
        transitions = spec.get("leaseTransitions")
        if transitions is not None and transitions < 0:
            causes.append(invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
        strategy = spec.get("strategy")
        if strategy is not None and "/" not in strategy and strategy != "OldestEmulationVersion":
            causes.append(not_supported("spec.strategy.strategy", strategy, ["OldestEmulationVersion"]))
        if spec.get("preferredHolder") and not strategy:
            causes.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [(obj.get("spec") or {}).get("holderIdentity") or "", age(obj, now)]


STRATEGY = LeaseStrategy()
