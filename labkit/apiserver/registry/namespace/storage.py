"""The Namespace's REST storage (``pkg/registry/core/namespace/storage/storage.go``).

:class:`NamespaceRegistry`: deleting a namespace that still has ``spec.finalizers`` only makes it
Terminating (``REST.Delete``); the namespace controller empties it, then calls ``/finalize`` (still
in ``labkit/apiserver/subresources.py``), and the namespace goes once its finalizers are gone.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apiserver.storage import Registry


class NamespaceRegistry(Registry):
    def _mark_for_deletion(self, obj: Obj, options: Obj) -> bool:
        """With ``spec.finalizers`` left, a namespace only turns Terminating; the namespace
        controller empties it and calls ``/finalize``."""
        if not obj.get("spec", {}).get("finalizers"):
            return super()._mark_for_deletion(obj, options)
        meta = obj["metadata"]
        meta.setdefault("deletionTimestamp", rfc3339(self.clock()))
        meta.setdefault("deletionGracePeriodSeconds", 0)
        obj.setdefault("status", {})["phase"] = "Terminating"
        return True

    def should_delete_during_update(self, obj: Obj) -> bool:
        """Only once ``/finalize`` has emptied ``spec.finalizers``."""
        return super().should_delete_during_update(obj) and not obj.get("spec", {}).get("finalizers")
