"""kube-aggregator: requests for a group-version an APIService names go to the server behind it.

Mirrors ``k8s.io/kube-aggregator/pkg/apiserver`` and its controllers:

- ``handler_proxy.go``: one handler per APIService, after kube-apiserver's authentication and
  authorization. A backend in this process (:class:`APIServiceBackend`: labkit's metrics-server, for the
  group-versions :data:`labkit.apiserver.resources.RESOURCES` lists as ``aggregated``) is called
  directly; any other APIService with a ``spec.service`` is proxied to that Service
  (:mod:`labkit.apiserver.aggregator_proxy`), and answers ``503 service unavailable`` (plain text, as
  Go's ``http.Error``) while its ``Available`` condition is not True. One whose ``spec.service`` is
  nil is ``Local``: served by this server.
- ``controllers/status/remote``: :class:`Aggregator` keeps the ``Available`` condition of each proxied
  APIService, re-checked when an APIService, Service or EndpointSlice changes (watches of the store,
  as kube's informers), every 30 s, and every second while a check fails (kube requeues with backoff).
  The reasons and messages are kube 1.33's, which reads EndpointSlices (``ServiceNotFound``,
  ``ServicePortError``, ``EndpointsNotFound``, ``MissingEndpoints``, ``FailedDiscoveryCheck``, then
  ``Passed``); before 1.33 it read Endpoints and said ``endpoints for service/...``.
- ``apis.go`` and ``handler_discovery.go``: the group is in ``/apis`` with its APIServices' versions,
  versions by ``versionPriority``, proxied groups after the built-in ones by ``groupPriorityMinimum``;
  ``/apis/<group>/<version>`` is the backend's own (proxied); aggregated discovery
  (``apidiscovery.k8s.io/v2``) lists the resources of the backend's ``APIResourceList`` as the last
  successful availability check fetched it, ``Stale`` when the latest check failed.

- ``controllers/status/local``: a ``Local`` APIService is ``Available`` (``Local``, ``Local APIServices
  are always available``).
- ``clusterauthenticationtrust``: the ConfigMap ``kube-system/extension-apiserver-authentication``
  (:func:`authentication_config_map`), which an extension API server built on ``k8s.io/apiserver`` reads.

Left out: one discovery check instead of kube's five in parallel, kube-aware version ordering among
versions of equal priority (by name here), ``--enable-aggregator-routing=false`` (routing to the
ClusterIP), the OpenAPI documents of extension API servers (``/openapi/v2`` and ``v3`` list only
labkit's own kinds), the ``extension-apiserver-authentication-reader`` Role, a ``Local`` APIService's
group in discovery (a Local one is expected to name a group this server has).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from labkit import store as kv
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apiserver import aggregator_proxy, apply, errors
from labkit.apiserver.admission import ObjectCache
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.discovery import ExternalGroup, ExternalVersion
from labkit.apiserver.request import RequestInfo
from labkit.apiserver.resources import RESOURCES, lookup
from labkit.apiserver.storage import Registry, decode

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
PROXY_CLIENT = "front-proxy-client"  # the CN of the proxy's client certificate
OffLoop = Callable[..., Awaitable[None]]


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


def authentication_config_map(ca_pem: str) -> Obj:
    """``kube-system/extension-apiserver-authentication``, as kube-apiserver's cluster authentication
    trust controller publishes it with kubeadm's flags: the CA of client certificates, and whom an
    extension API server may believe the ``X-Remote-*`` headers of (the front-proxy client, whose
    certificate labkit signs with the cluster's CA)."""
    headers = {"requestheader-username-headers": ["X-Remote-User"], "requestheader-uid-headers": [],
               "requestheader-group-headers": ["X-Remote-Group"],
               "requestheader-extra-headers-prefix": ["X-Remote-Extra-"]}
    return {"metadata": {"name": "extension-apiserver-authentication"}, "data": {
        "client-ca-file": ca_pem, **{k: json.dumps(v, separators=(",", ":")) for k, v in headers.items()},
        "requestheader-client-ca-file": ca_pem, "requestheader-allowed-names": f'["{PROXY_CLIENT}"]'}}


# --- APIServices proxied to a Service ----------------------------------------------------------------

RESYNC_SECONDS = 30.0  # kube's resync of the availability controller's informers
RETRY_SECONDS = 1.0  # how soon a failing APIService is checked again
CHECK_SECONDS = 5.0  # the discovery check's client timeout
#: the group-versions labkit serves from a backend in this process (metrics-server)
IN_PROCESS = frozenset(r.group_version for r in RESOURCES if r.aggregated)
#: the group-versions this server serves itself
BUILT_IN = frozenset(r.group_version for r in RESOURCES if not r.aggregated)


def is_available(api_service: Obj) -> bool:
    """``IsAPIServiceConditionTrue(apiService, Available)``."""
    return any(c.get("type") == "Available" and c.get("status") == "True"
               for c in (api_service.get("status") or {}).get("conditions") or [])


def _group_version(api_service: Obj) -> str:
    spec = api_service.get("spec") or {}
    return f"{spec.get('group', '')}/{spec.get('version', '')}"


def _service_key(api_service: Obj) -> str:
    """``namespace/name`` of the Service an APIService names."""
    ref = api_service["spec"]["service"]
    return f"{ref.get('namespace')}/{ref.get('name')}"


def local(api_service: Obj) -> bool:
    """A ``Local`` APIService: one whose group this server serves itself (``spec.service`` nil)."""
    return not (api_service.get("spec") or {}).get("service")


def proxied(api_service: Obj) -> bool:
    """Whether requests for the APIService's group-version go to its Service over the network."""
    gv = _group_version(api_service)
    return bool((api_service.get("spec") or {}).get("service")) and gv not in IN_PROCESS and gv not in BUILT_IN


class Aggregator:
    """The APIServices of one API server's cluster as its aggregator sees them: which group-version is
    proxied where, the availability controller, and the discovery it fetched from each backend."""

    def __init__(self, store: kv.Store, registry: Callable[[], Registry], *,
                 client_cert: Callable[[], tuple[Path, Path]], dial: aggregator_proxy.Dial,
                 clock: Callable[[], dt.datetime], off_loop: OffLoop) -> None:
        self._registry, self._client_cert_source, self.dial = registry, client_cert, dial
        self._off_loop = off_loop  # the API server's: a status write to etcd waits off the event loop
        self._clock = clock
        self.api_services, self.services, self.slices = (
            ObjectCache(store, lookup(group, version, plural).key_prefix(), decode)  # type: ignore[union-attr]
            for group, version, plural in (("apiregistration.k8s.io", "v1", "apiservices"), ("", "v1", "services"),
                                           ("discovery.k8s.io", "v1", "endpointslices")))
        #: group-version -> (the backend's APIResourceList entries, whether the latest check fetched them)
        self.discovery: dict[str, tuple[list[Obj], bool]] = {}
        self._tls: dict[tuple[str, bool], ssl.SSLContext] = {}
        self._client_cert: tuple[Path, Path] | None = None
        self._wake: asyncio.Event | None = None
        self._queue: set[str] = set()  # APIService names to sync
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ---

    def start(self) -> None:
        """Watch the APIServices and run the availability controller; the Services and EndpointSlices
        are watched from the first APIService proxied to a Service on (until then nobody needs them)."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        for cache, keys_to_names in ((self.api_services, lambda keys: keys), (self.services, self._for_services),
                                     (self.slices, self._for_slices)):
            cache.on_change = functools.partial(self._enqueue_threadsafe, loop, keys_to_names)
        self.api_services.start()
        self._task = loop.create_task(self._run(), name="apiservice-availability")

    def _enqueue_threadsafe(self, loop: asyncio.AbstractEventLoop, names: Callable[[list[str]], Iterable[str]],
                            keys: list[str]) -> None:
        """From the store's thread: queue the APIServices that changed keys concern (kube's event handlers)."""
        loop.call_soon_threadsafe(self._enqueue, names, keys)

    def _enqueue(self, names: Callable[[list[str]], Iterable[str]], keys: list[str]) -> None:
        self._queue.update(names(keys))
        if self._queue and self._wake is not None:
            self._wake.set()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for cache in (self.api_services, self.services, self.slices):
            cache.stop()

    def _for_services(self, keys: list[str]) -> list[str]:
        """The APIServices backed by the Services at ``keys`` (``namespace/name``)."""
        changed = set(keys)
        return [a["metadata"]["name"] for a in self.proxied() if _service_key(a) in changed]

    def _for_slices(self, keys: list[str]) -> list[str]:
        """The APIServices whose Service a changed EndpointSlice belongs to (every one of its namespace
        when the slice is gone: its label went with it)."""
        services, namespaces = set(), set()
        for key in keys:
            namespace, found = key.partition("/")[0], self.slices.get(key)
            if found is None:
                namespaces.add(namespace)
            else:
                services.add(f"{namespace}/{(found['metadata'].get('labels') or {}).get(SERVICE_NAME_LABEL)}")
        return [a["metadata"]["name"] for a in self.proxied()
                if _service_key(a) in services or _service_key(a).partition("/")[0] in namespaces]

    # --- routing ---

    def for_path(self, path: str) -> Obj | None:
        """The proxied APIService whose ``/apis/<group>/<version>`` ``path`` is, or is under."""
        parts = path.split("/", 4)
        if len(parts) < 4 or parts[1] != "apis" or not parts[3]:
            return None
        found = self.api_services.get(f"{parts[3]}.{parts[2]}")
        return found if found is not None and proxied(found) else None

    def proxied(self) -> list[Obj]:
        return [a for a in self.api_services.values() if proxied(a)]

    def tls(self, api_service: Obj) -> ssl.SSLContext:
        """The proxy's TLS for ``api_service`` (ValueError for an unusable ``caBundle``)."""
        spec = api_service["spec"]
        key = (spec.get("caBundle", ""), bool(spec.get("insecureSkipTLSVerify")))
        if key not in self._tls:
            if self._client_cert is None:
                self._client_cert = self._client_cert_source()
            self._tls[key] = aggregator_proxy.tls_context(api_service, self._client_cert)
        return self._tls[key]

    def endpoint(self, api_service: Obj) -> tuple[str, int]:
        """Where a request for ``api_service`` goes (:class:`aggregator_proxy.ResolveError` if nowhere)."""
        ref = api_service["spec"]["service"]
        ns, name = ref["namespace"], ref["name"]
        return aggregator_proxy.resolve_endpoint(self.services.get(f"{ns}/{name}"), self._slices(ns, name),
                                                 int(ref.get("port", 443)))

    def _slices(self, namespace: str, service: str) -> list[Obj]:
        return [s for s in self.slices.list(namespace)
                if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == service]

    # --- discovery ---

    def groups(self) -> list[ExternalGroup]:
        """The proxied groups for discovery: by ``groupPriorityMinimum`` (highest first) then name, each
        group's versions by ``versionPriority`` then name."""
        by_group: dict[str, list[Obj]] = {}
        for a in self.proxied():
            by_group.setdefault(a["spec"]["group"], []).append(a)
        ordered = sorted(by_group.items(), key=lambda kv_: (-max(a["spec"].get("groupPriorityMinimum", 0)
                                                                 for a in kv_[1]), kv_[0]))
        groups = []
        for group, services in ordered:
            services.sort(key=lambda a: (-a["spec"].get("versionPriority", 0), a["spec"]["version"]))
            versions = []
            for a in services:
                resources, fresh = self.discovery.get(_group_version(a), (None, False))
                versions.append(ExternalVersion(a["spec"]["version"], resources, fresh))
            groups.append(ExternalGroup(group, tuple(versions)))
        return groups

    # --- the availability controller ---

    async def _run(self) -> None:
        """Sync every APIService, then those queued by changes (at once), those whose check failed (a
        second later) and all of them again at each resync."""
        assert self._wake is not None
        names = {a["metadata"]["name"] for a in self.api_services.values()}
        resync = asyncio.get_running_loop().time() + RESYNC_SECONDS
        while True:
            if self.proxied() and not self.services.synced:
                for cache in (self.services, self.slices):
                    await self._off_loop(cache.start)
            failing = set()
            for name in sorted(names):
                api_service = self.api_services.get(name)
                if api_service is None or not (local(api_service) or proxied(api_service)):
                    continue  # deleted, or an in-process backend's: its server sets the condition
                try:
                    if not await self.sync(api_service):
                        failing.add(name)
                except (errors.ApiError, kv.StoreError):
                    failing.add(name)  # changed meanwhile, or the store is away: again soon
            loop = asyncio.get_running_loop()
            self._wake.clear()
            if not self._queue:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), RETRY_SECONDS if failing
                                           else max(resync - loop.time(), 0.0))
            names, self._queue = self._queue | failing, set()
            if loop.time() >= resync:
                names = {a["metadata"]["name"] for a in self.api_services.values()}
                resync = loop.time() + RESYNC_SECONDS

    async def sync(self, api_service: Obj) -> bool:
        """Check one APIService and write its ``Available`` condition if it changed; True when available."""
        status, reason, message = await self._check(api_service)
        current = next((c for c in (api_service.get("status") or {}).get("conditions") or []
                        if c.get("type") == "Available"), None)
        wanted = {"type": "Available", "status": status, "reason": reason, "message": message}
        if current is None or any(current.get(k) != v for k, v in wanted.items()):
            await self._off_loop(self._write, api_service["metadata"]["name"], wanted)
        return status == "True"

    def _write(self, name: str, wanted: Obj) -> None:
        """``UpdateStatus`` with the condition set as ``SetAPIServiceCondition`` sets it: a new
        ``lastTransitionTime`` only when the status changes."""
        now = rfc3339(self._clock())

        def mutate(current: Obj) -> Obj:
            conditions = [dict(c) for c in (current.get("status") or {}).get("conditions") or []]
            old = next((c for c in conditions if c.get("type") == "Available"), None)
            since = old["lastTransitionTime"] if old and old.get("status") == wanted["status"] else now
            condition = {"type": "Available", "status": wanted["status"], "lastTransitionTime": since,
                         "reason": wanted["reason"], "message": wanted["message"]}
            conditions = [condition if c is old else c for c in conditions] if old else [*conditions, condition]
            new = {**current, "metadata": dict(current["metadata"]), "status": {**(current.get("status") or {}),
                                                                                "conditions": conditions}}
            apply.track_update(current, new, manager="kube-apiserver", now=now, subresource="status")
            return new
        self._registry().update("", name, mutate, subresource="status")

    async def _check(self, api_service: Obj) -> tuple[str, str, str]:
        """(status, reason, message) of the ``Available`` condition, as kube's ``sync`` decides it."""
        if local(api_service):  # the local availability controller's
            return "True", "Local", "Local APIServices are always available"
        ref = api_service["spec"]["service"]
        ns, name, port = ref["namespace"], ref["name"], int(ref.get("port", 443))
        where = f'service/{name} in "{ns}"'
        service = self.services.get(f"{ns}/{name}")
        if service is None:
            return "False", "ServiceNotFound", f"{where} is not present"
        spec = service.get("spec") or {}
        if spec.get("type", "ClusterIP") == "ClusterIP":
            port_name = next((p.get("name", "") for p in spec.get("ports") or [] if p.get("port") == port), None)
            if port_name is None:
                return "False", "ServicePortError", f"{where} is not listening on port {port}"
            slices = self._slices(ns, name)
            if not slices:
                return "False", "EndpointsNotFound", f"cannot find endpointslices for {where}"
            if not aggregator_proxy.has_available_endpoint(slices, port_name):
                return ("False", "MissingEndpoints",
                        f'endpointslices for {where} have no addresses with port name "{port_name}"')
        error = await self._discovery_check(api_service)
        if error:
            return "False", "FailedDiscoveryCheck", error
        return "True", "Passed", "all checks passed"

    async def _discovery_check(self, api_service: Obj) -> str:
        """GET the backend's ``/apis/<group>/<version>`` as ``system:kube-aggregator`` (``system:masters``),
        TLS not verified; keep its resource list for discovery. The error message, or "" on success."""
        spec, gv = api_service["spec"], _group_version(api_service)
        try:
            host, port = self.endpoint(api_service)
        except aggregator_proxy.ResolveError as e:
            return str(e)
        url = f"https://{host}:{port}/apis/{gv}"
        insecure = {"spec": {**spec, "insecureSkipTLSVerify": True, "caBundle": ""}}
        identity = UserInfo(name="system:kube-aggregator", groups=("system:masters",))
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                response = await aggregator_proxy.send(
                    self.dial, host, port, method="GET", target=f"/apis/{gv}", body=b"", tls=self.tls(insecure),
                    tls_name=aggregator_proxy.server_name(api_service),
                    headers=aggregator_proxy.forwarded_headers([("Accept", "application/json")], identity))
                try:
                    body = await response.read()
                finally:
                    response.close()
        except OSError as e:  # refused, reset, TLS, timed out
            self._stale(gv)
            return f'failing or missing response from {url}: Get "{url}": {aggregator_proxy.dial_error(e, host, port)}'
        if not 200 <= response.status < 300:
            self._stale(gv)
            return f"failing or missing response from {url}: bad status from {url}: {response.status}"
        try:
            doc = json.loads(body)
            resources = [r for r in doc.get("resources") or [] if isinstance(r, dict)]
        except (ValueError, AttributeError, TypeError):
            resources = None
        if resources is not None:
            self.discovery[gv] = (resources, True)
        return ""

    def _stale(self, group_version: str) -> None:
        if group_version in self.discovery:
            self.discovery[group_version] = (self.discovery[group_version][0], False)
