"""The pod's REST storage (``pkg/registry/core/pod/storage``): what pods do beyond the generic store.

:class:`PodRegistry`: graceful deletion. A pod on a node gets a grace period its kubelet honours;
one never scheduled, or already finished, goes at once (``CheckGracefulDelete``, which kube keeps in
``strategy.go``). ``labkit/apiserver/rest.py`` wires it to pods.

``binding`` and ``eviction`` are still in ``labkit/apiserver/subresources.py``; ``/status`` is the
generic store's (the strategy's ``status_subresource``); the streaming subresources (``log``,
``exec``, ``attach``, ``portforward``; kube's ``pkg/registry/core/pod/rest``) reach a kubelet and are
in ``labkit/apiserver/streaming``.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.apiserver.storage import Registry


class PodRegistry(Registry):
    def grace_period(self, obj: Obj, options: Obj) -> int:
        """A pod never scheduled is deleted at once; otherwise the request's grace period or the
        pod's ``terminationGracePeriodSeconds`` (``pod.Strategy.CheckGracefulDelete``)."""
        spec = obj.get("spec", {})
        if not spec.get("nodeName") or obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        return max(int(grace), 0)
