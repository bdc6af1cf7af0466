"""The Namespace's REST storage (``pkg/registry/core/namespace/storage/storage.go``).

- :class:`NamespaceRegistry`: deleting a namespace that still has ``spec.finalizers`` only makes it
  Terminating (``REST.Delete``); the namespace controller empties it, then calls ``/finalize``.
- :func:`finalize`: ``PUT namespaces/NAME/finalize`` (``FinalizeREST``), which changes only
  ``spec.finalizers``; a terminating namespace whose finalizers are gone is then removed.

Left out: the finalize subresource's own strategy and its validation of the finalizer names.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apiserver import errors, request
from labkit.apiserver.handlers import Call
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


def finalize(call: Call) -> tuple[int, Obj]:
    """PUT namespaces/NAME/finalize: only ``spec.finalizers`` changes; an emptied, terminating
    namespace is then removed."""
    info = call.info
    body = call.check_fields(request.decode_object(call.body, call.content_type, call.resource))
    if (body.get("metadata") or {}).get("name") not in (None, info.name):
        raise errors.name_mismatch(body["metadata"]["name"], info.name)
    finalizers = (body.get("spec") or {}).get("finalizers") or []

    def mutate(ns: Obj) -> Obj:
        ns.setdefault("spec", {})["finalizers"] = finalizers
        if not finalizers:
            ns["spec"].pop("finalizers")
        return ns

    updated, call.revision = call.registry.update("", info.name, mutate, user=call.user, dry_run=call.dry_run,
                                                  subresource="finalize")
    return 200, updated
