"""kube-aggregator, as far as labkit has it: requests for a group-version an APIService names go to
the server behind it.

Mirrors ``k8s.io/kube-aggregator/pkg/apiserver`` (``handler_proxy.go``: one handler per APIService,
routing ``/apis/<group>/<version>/...`` after kube-apiserver's authentication and authorization;
``apis.go``: the group is in discovery while its APIService is served) and the ``Available`` condition
of ``pkg/controllers/status`` (``Passed``, ``all checks passed``). A backend here is an object in this
process (:class:`APIServiceBackend`: labkit's metrics-server); proxying to the Service an APIService
names, for any extension API server, is issue 16's work and plugs in as another backend. Left out:
that proxy, the availability checks themselves, and discovery merged from the backend (the
resources an APIService serves are listed in :data:`labkit.apiserver.resources.RESOURCES`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Protocol

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apiserver.request import RequestInfo


class APIServiceBackend(Protocol):
    """The server of one APIService's group-version, as kube-apiserver reaches it."""

    def serve(self, info: RequestInfo, query: Mapping[str, str], table: bool) -> Obj:
        """The answer to an authorized ``get`` or ``list`` (a ``meta.k8s.io/v1`` Table when ``table``);
        raises :class:`labkit.apiserver.errors.ApiError` for a Status."""
        ...


def api_service(group: str, version: str, *, service: tuple[str, str], group_priority: int,
                version_priority: int) -> Obj:
    """An ``APIService`` named ``<version>.<group>`` pointing at Service ``service`` (namespace, name)."""
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": f"{version}.{group}"},
            "spec": {"group": group, "version": version, "groupPriorityMinimum": group_priority,
                     "versionPriority": version_priority, "insecureSkipTLSVerify": True,
                     "service": {"namespace": service[0], "name": service[1]}}}


def available_condition(now: dt.datetime) -> Obj:
    """The ``Available`` condition the availability controller sets once the backend answers."""
    return {"type": "Available", "status": "True", "lastTransitionTime": rfc3339(now), "reason": "Passed",
            "message": "all checks passed"}
