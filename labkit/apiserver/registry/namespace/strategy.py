"""The Namespace strategy (``pkg/registry/core/namespace/strategy.go``).

- Every namespace carries the label ``kubernetes.io/metadata.name=<name>``: set by
  ``SetDefaults_Namespace`` and kept by the strategy's ``Canonicalize`` on every write, so a client
  cannot remove or change it.
- Create starts the namespace ``Active`` with the ``kubernetes`` finalizer in ``spec.finalizers``
  (the namespace controller removes it through ``/finalize`` once the contents are gone). Updates
  through the main resource keep the old ``spec.finalizers`` and ``status``.

Deletion, which makes a namespace Terminating, and ``/finalize`` are the storage's: ``storage.py``
beside this module. Left out: the ``/finalize`` subresource's own strategy (the API server keeps
everything but ``spec.finalizers`` there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, invalid, qualified_name_errors
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

NAME_LABEL = "kubernetes.io/metadata.name"
KUBERNETES_FINALIZER = "kubernetes"


def _set_name_label(obj: Obj) -> None:
    meta = obj.setdefault("metadata", {})
    if meta.get("name"):  # a generateName namespace gets it once the name is chosen
        labels = meta.get("labels")
        meta["labels"] = {**(labels if isinstance(labels, dict) else {}), NAME_LABEL: meta["name"]}


class NamespaceStrategy(Strategy):
    kind = "Namespace"
    name_rule = "label"
    status_subresource = True
    columns = (Column("Status", description="The phase of the namespace: Active or Terminating."), AGE_COLUMN)

    def default(self, obj: Obj) -> None:
        _set_name_label(obj)
        status = obj.get("status")
        if isinstance(status, dict):
            status.setdefault("phase", "Active")

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        finalizers = spec.get("finalizers") if isinstance(spec.get("finalizers"), list) else []
        if KUBERNETES_FINALIZER not in finalizers:
            finalizers.append(KUBERNETES_FINALIZER)
        spec["finalizers"] = finalizers

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        super().prepare_for_update(obj, old)
        obj["spec"] = {**(obj.get("spec") or {}), "finalizers": (old.get("spec") or {}).get("finalizers", [])}

    def validate(self, obj: Obj) -> list[Cause]:
        causes: list[Cause] = []
        for i, name in enumerate((obj.get("spec") or {}).get("finalizers") or []):
            at = f"spec.finalizers[{i}]"
            if not isinstance(name, str):
                causes.append(invalid(at, name, "must be a string"))
                continue
            causes += [invalid(at, name, e) for e in qualified_name_errors(name)]
            if "/" not in name and name != KUBERNETES_FINALIZER:
                causes.append(invalid(at, name, "name is neither a standard finalizer name nor is it fully qualified"))
        return causes

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [(obj.get("status") or {}).get("phase", ""), age(obj, now)]

    def field_labels(self, obj: Obj) -> dict[str, str]:
        return {"status.phase": (obj.get("status") or {}).get("phase", "")}


STRATEGY = NamespaceStrategy()
