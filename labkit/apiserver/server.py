"""The API server: HTTPS on loopback, the one door into the cluster's state.

Mirrors kube-apiserver's handler chain (``k8s.io/apiserver/pkg/server/config.go``
``DefaultBuildHandlerChain``): authentication (client certificate, bearer or bootstrap token; no
credentials is ``system:anonymous`` unless authorization is AlwaysAllow) → impersonation →
authorization → the REST handler (admission and storage inside), with every request and every watch
event written to the trace. Also serves discovery (legacy and aggregated), ``/version``, the health
endpoints and the OpenAPI documents (:mod:`labkit.apiserver.openapi`). The group-versions of
APIServices go to their backend: one in this process (:attr:`APIServer.api_services`) or, proxied
after authorization, an extension API server behind a Service (:attr:`APIServer.aggregator`,
:mod:`labkit.apiserver.aggregator`). Left out: HTTP/2, API priority and fairness, audit policy, CRDs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import ipaddress
import json
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import yaml
from aiohttp import web, web_protocol

from labkit import codec
from labkit import store as kv
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import now_utc, rfc3339
from labkit.apiserver import (
    aggregator_proxy,
    apply,
    bootstrappolicy,
    discovery,
    errors,
    handlers,
    openapi,
    request,
    streaming,
    tables,
    watch,
)
from labkit.apiserver.admission import AdmissionChain, NamespaceLifecycle, ObjectCache, Priority, ServiceAccount
from labkit.apiserver.admission_limitranger import LimitRanger
from labkit.apiserver.admission_resourcequota import ResourceQuota
from labkit.apiserver.admission_storage import DefaultStorageClass, StorageObjectInUseProtection
from labkit.apiserver.aggregator import (
    PROXY_CLIENT,
    Aggregator,
    APIServiceBackend,
    authentication_config_map,
    is_available,
)
from labkit.apiserver.authn import BootstrapTokenAuthenticator, UserInfo
from labkit.apiserver.authz import AlwaysAllow, AuthorizationAttributes, Authorizer, forbidden_message
from labkit.apiserver.pki import PKI
from labkit.apiserver.rbac import RBACAuthorizer
from labkit.apiserver.registry.pod.storage import legacy_binding
from labkit.apiserver.registry.reviews import review
from labkit.apiserver.registry.service.storage import ServiceRegistry
from labkit.apiserver.registry.serviceaccount.storage import token_request
from labkit.apiserver.resources import RESOURCES, Resource
from labkit.apiserver.rest import DEFAULT_SERVICE_CIDR, REGISTRY_CLASSES, SUBRESOURCE_HANDLERS
from labkit.apiserver.storage import Registry, decode
from labkit.apiserver.streaming.kubelet_api import KubeletAPI
from labkit.apiserver.versions import VersionedRegistry
from labkit.ids import IdSource
from labkit.network.netns import HOST
from labkit.trace import Trace

#: the Kubernetes release whose API behaviour labkit follows (the kubectl dispatcher picks its kubectl by it)
KUBERNETES_VERSION = "v1.33.0"
#: kube-apiserver's --authorization-mode values labkit serves
AUTHORIZATION_MODES = ("RBAC", "AlwaysAllow")
RBAC_GROUP = "rbac.authorization.k8s.io"
HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
PUBLIC_PATHS = (*HEALTH_PATHS, "/version", "/version/")
OPENAPI_V2_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
COMPACTION_INTERVAL = 300.0  # kube-apiserver's --etcd-compaction-interval default
Handler = Callable[[handlers.Call], tuple[int, Obj | bytes]]
T = TypeVar("T")
#: threads for the calls of one API server to a remote store (etcd): how many requests may wait on it
#: at once before the next queues (kube-apiserver gives each request a goroutine of its own, up to
#: --max-requests-inflight 400 and --max-mutating-requests-inflight 200)
STORE_THREADS = 32


def check_authorization_mode(mode: str) -> str:
    """``mode`` if labkit serves it, else a ValueError naming the ones it does."""
    if mode not in AUTHORIZATION_MODES:
        raise ValueError(f"unknown authorization mode {mode!r}: choose one of {', '.join(AUTHORIZATION_MODES)}")
    return mode


def version_info() -> Obj:
    major, minor, _patch = KUBERNETES_VERSION.lstrip("v").split(".")
    return {"major": major, "minor": minor, "gitVersion": KUBERNETES_VERSION, "gitCommit": "labkit",
            "gitTreeState": "clean", "buildDate": "2025-04-23T00:00:00Z", "goVersion": "labkit-python",
            "compiler": "labkit", "platform": "linux/amd64"}


def backed_up(req: web.Request) -> bool:
    """True when a streaming client has stopped reading: its connection holds too many unsent bytes."""
    transport = req.transport
    return transport is None or transport.get_write_buffer_size() > watch.BACKLOG_LIMIT


def watch_error(error: errors.ApiError) -> bytes:
    """The ERROR event that ends a watch: the Status with Go's escapes, on one line."""
    return codec.go_dumps({"type": "ERROR", "object": error.status()}) + b"\n"


def _partial(obj: Obj) -> Obj:
    """An object as ``PartialObjectMetadata``: what metadata-only clients (the garbage collector's) read."""
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def _status(error: errors.ApiError) -> web.Response:
    """An error's Status, byte for byte as kube-apiserver writes it."""
    return web.Response(status=error.code, body=error.encode(), headers={"Content-Type": "application/json"})


def _json(code: int, body: Any, content_type: str = "application/json") -> web.Response:
    return web.Response(status=code, body=codec.dumps(body),
                        headers={"Content-Type": content_type})


def _plain_error(code: int, message: str) -> web.Response:
    """Go's ``http.Error``: the message and a newline as plain text."""
    return web.Response(status=code, text=message + "\n", headers={
        "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"})


class APIServer:
    """kube-apiserver for one labkit cluster. Runs on the cluster's event loop."""

    def __init__(self, store: kv.Store, pki: PKI, *, ids: IdSource | None = None, trace: Trace | None = None,
                 clock: Callable[[], dt.datetime] = now_utc, authorization: str = "AlwaysAllow",
                 service_cidr: str = DEFAULT_SERVICE_CIDR, name: str = "",
                 kubelets: dict[str, KubeletAPI] | None = None,
                 service_allocation: threading.Lock | None = None,
                 api_services: dict[str, APIServiceBackend] | None = None) -> None:
        self.name = name  # the control-plane member it runs on, in the trace of an HA cluster
        self.store = store
        self.pki = pki
        self.ids = ids if ids is not None else IdSource()
        self.trace = trace if trace is not None else Trace()
        self.clock = clock
        self.authorization = check_authorization_mode(authorization)
        # kube-apiserver's --anonymous-auth defaults to true, but is turned off under AlwaysAllow
        # admission reads namespaces, LimitRanges and ResourceQuotas from watch-fed caches, as kube's
        # plugins read their informers' (on etcd a live read is a round trip: it was a create's second),
        # and bootstrap tokens are looked up in kube-system's Secrets the same way (kube's Secret lister);
        # started with the server
        self.namespaces, self.limitranges, self.quotas, self.system_secrets, self.service_accounts = (
            ObjectCache(store, next(r for r in RESOURCES if r.plural == plural and not r.group).key_prefix(ns), decode)
            for plural, ns in (("namespaces", None), ("limitranges", None), ("resourcequotas", None),
                               ("secrets", "kube-system"), ("serviceaccounts", None)))
        self.authenticator = pki.authenticator(
            token_authenticators=[BootstrapTokenAuthenticator(self._system_secret, clock)],
            anonymous=authorization != "AlwaysAllow")
        # in the order of kube's AllOrderedPlugins: LimitRanger before ServiceAccount, ResourceQuota last
        self.admission = AdmissionChain([NamespaceLifecycle(self._lookup, self.namespaces),
                                         LimitRanger(lambda ns: self._cached(self.limitranges, "limitranges", ns)),
                                         ServiceAccount(lambda ns, name: self.service_accounts.get(f"{ns}/{name}"),
                                                        lambda: self.ids.suffix("kube-api-access")),
                                         DefaultStorageClass(lambda plural: self._list_all(plural, "storage.k8s.io")),
                                         StorageObjectInUseProtection(),
                                         Priority(self._list_all),
                                         ResourceQuota(self._quotas, self._update_quota_status, clock)])
        self.registries: dict[tuple[str, str], Registry] = {
            (r.group, r.plural): REGISTRY_CLASSES.get(r.plural, Registry)(
                r, store, ids=self.ids, admission=self.admission, clock=clock)
            for r in RESOURCES if r.stored and r.conversion is None}
        #: (group, version, plural) -> the registry of a version served from another version's storage
        self.versions: dict[tuple[str, str, str], Registry] = {
            (r.group, r.version, r.plural): VersionedRegistry(r, self.registries[(
                r.group if r.conversion.storage_group is None else r.conversion.storage_group, r.plural)])
            for r in RESOURCES if r.conversion is not None}
        self.authorizer: Authorizer = AlwaysAllow()
        self._rbac_watches: list[kv.WatchHandle] = []
        if authorization == "RBAC":
            rbac = RBACAuthorizer(lambda plural: self._list_all(plural, RBAC_GROUP))
            self._rbac_watches = [store.watch(self.registry(plural, RBAC_GROUP).resource.key_prefix(),
                                              lambda _: rbac.invalidate(), prefix=True)
                                  for plural in ("roles", "clusterroles", "rolebindings", "clusterrolebindings")]
            self.authorizer = rbac
        self.service_cidr = ipaddress.ip_network(service_cidr)
        services = self.registry("services")
        assert isinstance(services, ServiceRegistry)
        services.service_cidr = self.service_cidr
        #: one per cluster: its API servers (an HA control plane's members) allocate addresses in turn
        services.allocating = service_allocation or threading.Lock()
        #: (verb, subresource) -> handler; the streaming pod subresources are added by the node side
        self.connect_handlers: dict[str, Callable[[web.Request, handlers.Call], Awaitable[web.StreamResponse]]] = {}
        #: node name -> its kubelet's API; the Cluster fills it (one dict for every API server of a cluster)
        self.kubelets: dict[str, KubeletAPI] = kubelets if kubelets is not None else {}
        streaming.install(self)  # log/exec/attach/portforward, through self.kubelets
        #: group-version (``metrics.k8s.io/v1beta1``) -> the server of its APIService; registered by it (one
        #: dict for every API server of a cluster, as for the kubelets)
        self.api_services: dict[str, APIServiceBackend] = api_services if api_services is not None else {}
        #: the APIServices proxied to a Service; the Cluster sets ``aggregator.dial`` to its pods' network
        self.aggregator = Aggregator(
            store, lambda: self.registry("apiservices", "apiregistration.k8s.io"), dial=HOST.open_connection,
            client_cert=lambda: pki.issue_client_cert(PROXY_CLIENT, user=PROXY_CLIENT), clock=clock,
            off_loop=self._off_loop)
        self._watch_caches: dict[tuple[str, str, str], watch.WatchCache] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._compactor: asyncio.Task[None] | None = None
        self._store_threads: ThreadPoolExecutor | None = None
        self.ready = False

    # --- in-process access for bootstrap and admission -------------------------------------------

    def registry(self, plural: str, group: str = "") -> Registry:
        return self.registries[(group, plural)]

    def _lookup(self, plural: str, namespace: str, name: str) -> Obj | None:
        try:
            return self.registry(plural).get(namespace, name)
        except errors.ApiError:
            return None

    def _admission_caches(self) -> tuple[ObjectCache, ...]:
        return self.namespaces, self.limitranges, self.quotas, self.system_secrets, self.service_accounts

    def _system_secret(self, name: str) -> Obj | None:
        """A kube-system Secret from the cache (from the store until the cache has synced)."""
        if self.system_secrets.synced:
            return self.system_secrets.get(name)
        return self._lookup("secrets", "kube-system", name)

    def _cached(self, cache: ObjectCache, plural: str, namespace: str) -> list[Obj]:
        """A namespace's objects from ``cache``, or from the store while the cache is not synced."""
        return cache.list(namespace) if cache.synced else self.registry(plural).list(namespace)["items"]

    def _quotas(self, namespace: str) -> list[Obj]:
        """The ResourceQuota plugin's read: the cache says whether the namespace has any; those are read
        from the store, so that the compare-and-swap of ``status.used`` starts from their latest version."""
        return self.registry("resourcequotas").list(namespace)["items"] if \
            self._cached(self.quotas, "resourcequotas", namespace) else []

    def _update_quota_status(self, quota: Obj) -> None:
        """The ResourceQuota plugin's write of ``status.used``: compare-and-swap on the quota's
        resourceVersion, recorded in managedFields as kube's loopback client records it."""
        meta = quota["metadata"]

        def charge(current: Obj) -> Obj:
            new = {**current, "metadata": dict(current["metadata"]), "status": quota["status"]}
            apply.track_update(current, new, manager="kube-apiserver", now=rfc3339(self.clock()), subresource="status")
            return new
        self.registry("resourcequotas").update(meta["namespace"], meta["name"], charge, subresource="status",
                                               precondition_rv=meta["resourceVersion"])

    def _list_all(self, plural: str, group: str = "") -> list[Obj]:
        group = "scheduling.k8s.io" if plural == "priorityclasses" else group
        return self.registry(plural, group).list("")["items"]

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=request.MAX_BODY * 2)
        app.router.add_route("*", r"/{tail:[\s\S]*}", self._handle)  # any path, a newline in it too
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self.pki.server_ssl_context())
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]  # the bound port: aiohttp keeps it private
        self.url = f"https://{host}:{sockets[0].getsockname()[1]}"
        if self.store.remote:
            self._store_threads = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix=f"apiserver-{self.name}-store")
        for admission_cache in self._admission_caches():
            admission_cache.start()
        self._bootstrap()
        self.aggregator.start()
        self._compactor = asyncio.get_running_loop().create_task(self._compact_periodically())
        self.ready = True
        return self.url

    async def stop(self) -> None:
        self.ready = False
        if self._compactor:
            self._compactor.cancel()
        for cache in self._watch_caches.values():
            cache.stop()
        for handle in self._rbac_watches:
            handle.cancel()
        self.aggregator.stop()
        for admission_cache in self._admission_caches():
            admission_cache.stop()
        if self._runner:
            await self._runner.cleanup()
            self._runner = None
        self._release_store_threads()

    def drop_connections(self) -> None:
        """Close the listening socket and every connection at once, unanswered: what the kernel does
        to the sockets of a process that dies (a control-plane member's crash, :mod:`labkit.controlplane`)."""
        self.ready = False
        self._release_store_threads()
        if self._runner is None:
            return
        for site in self._runner.sites:
            server = site._server  # the asyncio server: aiohttp keeps it private
            if server is not None:
                server.close()
        if self._runner.server is not None:
            for handler in self._runner.server.connections:
                if handler.transport is not None:
                    handler.transport.abort()

    def _release_store_threads(self) -> None:
        """Let the store threads go; one still waiting on etcd ends with its call."""
        if self._store_threads is not None:
            self._store_threads.shutdown(wait=False, cancel_futures=True)
            self._store_threads = None

    async def _off_loop(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)``, which reaches the store: on the loop for a store in this process, on a
        thread for etcd, so that one request waiting on etcd (seconds in an election, 7 s without a
        quorum) does not hold up every other request of this API server."""
        if self._store_threads is None:
            return call(*args)
        return await asyncio.get_running_loop().run_in_executor(self._store_threads, call, *args)

    async def _compact_periodically(self) -> None:
        """Compact the store to the revision of one interval ago, as kube-apiserver asks etcd to."""
        previous = self.store.revision
        while True:
            await asyncio.sleep(COMPACTION_INTERVAL)
            if previous > self.store.compact_revision:
                with contextlib.suppress(kv.StoreError):  # another API server of the cluster compacted first
                    await self._off_loop(self.store.compact, previous)
            previous = self.store.revision

    def _bootstrap(self) -> None:
        """What kube-apiserver's bootstrap controllers create: system namespaces, the ``kubernetes``
        Service with its Endpoints and EndpointSlice, the system PriorityClasses."""
        host, port = self.url.removeprefix("https://").rsplit(":", 1)
        ns_reg = self.registry("namespaces")
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self._ensure(ns_reg, "", {"metadata": {"name": ns}})
        self._ensure(self.registry("services"), "default", {
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": str(next(self.service_cidr.hosts())),
                     "ports": [{"name": "https", "port": 443, "targetPort": int(port)}]}})
        self._ensure(self.registry("endpoints"), "default", {
            "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": host}],
                         "ports": [{"name": "https", "port": int(port), "protocol": "TCP"}]}]})
        self._ensure(self.registry("endpointslices", "discovery.k8s.io"), "default", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4", "endpoints": [{"addresses": [host], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": int(port), "protocol": "TCP"}]})
        self._ensure(self.registry("configmaps"), "kube-system",
                     authentication_config_map(self.pki.ca_cert_pem.decode()))  # for extension API servers
        if self.authorization == "RBAC":  # kube-apiserver's rbac/bootstrap-roles post-start hook
            for role in bootstrappolicy.cluster_roles():
                self._ensure(self.registry("clusterroles", RBAC_GROUP), "", role)
            for binding in bootstrappolicy.cluster_role_bindings():
                self._ensure(self.registry("clusterrolebindings", RBAC_GROUP), "", binding)
            for role in bootstrappolicy.roles():
                self._ensure(self.registry("roles", RBAC_GROUP), role["metadata"]["namespace"], role)
            for binding in bootstrappolicy.role_bindings():
                self._ensure(self.registry("rolebindings", RBAC_GROUP), binding["metadata"]["namespace"], binding)
        pcs = self.registry("priorityclasses", "scheduling.k8s.io")
        for name, value in (("system-node-critical", 2000001000), ("system-cluster-critical", 2000000000)):
            self._ensure(pcs, "", {"metadata": {"name": name}, "value": value,
                                   "description": "Used for system critical pods that must not be moved from their "
                                   "current node." if name == "system-node-critical" else
                                   "Used for system critical pods that must run in the cluster, but can be moved to "
                                   "another node if necessary."})

    def _ensure(self, reg: Registry, ns: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        try:
            reg.get(ns, name)
        except errors.ApiError:
            obj["metadata"]["namespace"] = ns
            reg.create(ns, obj)

    # --- the handler chain -----------------------------------------------------------------------

    async def _handle(self, req: web.Request) -> web.StreamResponse:
        t0 = time.monotonic()
        user: UserInfo | None = None
        info: request.RequestInfo | None = None
        call: handlers.Call | None = None
        response: web.StreamResponse
        code = 500
        try:
            query = {k: v for k, v in req.query.items()}
            if req.path in PUBLIC_PATHS:
                user = self._authenticate(req, required=False)
                response = (await self._health(req.path) if req.path in HEALTH_PATHS
                            else self._non_resource(req))
            else:
                user = self._authenticate(req, required=True)
                assert user is not None
                user = self._impersonate(req, user)
                api_service = self.aggregator.for_path(req.path)
                if api_service is not None:  # kube-aggregator's proxy, after authorization
                    info = aggregator_proxy.request_info(req.method, req.path, query)
                    self._authorize(user, info)
                    response = await self._proxy(req, user, api_service)
                    code = response.status
                    return response
                info = request.parse(req.method, req.path, query)
                self._authorize(user, info)
                if info.path.rstrip("/") in ("/openapi/v2", "/openapi/v3") or info.path.startswith("/openapi/v3/"):
                    response = await self._openapi(req, info.path.rstrip("/"))
                elif not info.is_resource:
                    response = self._non_resource(req, info)
                else:
                    body = await self._read_body(req)
                    call = handlers.Call(info=info, registry=self._registry_for(info), user=user, query=query,
                                         query_all={k: req.query.getall(k) for k in req.query.keys()}, body=body,
                                         content_type=req.headers.get("Content-Type", ""),
                                         user_agent=req.headers.get("User-Agent", ""), now=self.clock())
                    response = await self._resource(req, call)
                    if call.warnings and not response.prepared:  # what kubectl prints as "Warning: ..."
                        for warning in call.warnings:
                            response.headers.add("Warning", "299 - " + json.dumps(warning))
            code = response.status
            return response
        except errors.ApiError as e:
            code = e.code
            return _status(e)
        except asyncio.CancelledError:
            code = 499  # the client went away
            raise
        except kv.StoreError as e:  # etcd unreachable or without quorum: its own words, as kube answers
            code = 500
            return _status(errors.storage(str(e)))
        except RecursionError:  # a body nested deeper than any object (kube's decoder stops at 10000 levels)
            code = 400
            return _status(errors.bad_request("the object is nested too deeply"))
        except Exception as e:  # noqa: BLE001 - a bug must still answer as a Status, never a traceback
            code = 500
            return _status(errors.internal(f"{type(e).__name__}: {e}"))
        finally:
            self._record(req, t0, user, info, call, code)

    def _record(self, req: web.Request, t0: float, user: UserInfo | None, info: request.RequestInfo | None,
                call: handlers.Call | None, code: int) -> None:
        resource = req.path
        if info is not None and info.is_resource:
            resource = info.plural + (f"/{info.subresource}" if info.subresource else "")
        self.trace.request(t=t0, user=user.name if user else "", verb=info.verb if info else req.method.lower(),
                           resource=resource, namespace=info.namespace if info else "",
                           name=(call.created_name if call else "") or (info.name if info else ""),
                           code=code, latency_ms=(time.monotonic() - t0) * 1000, revision=call.revision if call else 0,
                           user_agent=req.headers.get("User-Agent", ""), server=self.name)

    def _authenticate(self, req: web.Request, *, required: bool) -> UserInfo | None:
        tls = req.transport.get_extra_info("ssl_object") if req.transport else None
        peer = tls.getpeercert(binary_form=True) if tls is not None else None
        user = self.authenticator.authenticate(peer_cert=peer, authorization=req.headers.get("Authorization"))
        if user is None and required:
            raise errors.unauthorized()
        return user

    def _impersonate(self, req: web.Request, user: UserInfo) -> UserInfo:
        """``Impersonate-User`` / ``Impersonate-Group``: act as someone else if allowed to."""
        as_user = req.headers.get("Impersonate-User")
        as_groups = req.headers.getall("Impersonate-Group", [])
        if not as_user:
            if as_groups:
                raise errors.bad_request("requested [" + ", ".join(f"{{Group {g}}}" for g in as_groups) +
                                         "] without impersonating a user")
            return user
        for resource, name in [("users", as_user)] + [("groups", g) for g in as_groups]:
            attrs = AuthorizationAttributes(user, "impersonate", True, resource=resource, name=name)
            allowed, reason = self.authorizer.authorize(attrs)
            if not allowed:
                raise errors.forbidden(forbidden_message(attrs, reason), resource, name)
        groups = tuple(as_groups) + (("system:authenticated",) if as_user != "system:anonymous" else ())
        return UserInfo(name=as_user, uid=req.headers.get("Impersonate-Uid", ""), groups=groups)

    def _authorize(self, user: UserInfo, info: request.RequestInfo) -> None:
        if "system:masters" in user.groups:
            return
        res = info.resource
        attrs = AuthorizationAttributes(user, info.verb, info.is_resource, info.namespace, info.group,
                                        info.plural, info.subresource, info.name, info.path)
        allowed, reason = self.authorizer.authorize(attrs)
        if not allowed:
            raise errors.forbidden(forbidden_message(attrs, reason), info.plural, info.name, res.group if res else "")

    def _registry_for(self, info: request.RequestInfo) -> Registry:
        res = info.resource
        assert res is not None
        return (self.versions.get((res.group, res.version, res.plural)) or self.registries.get((res.group, res.plural))
                or Registry(res, self.store, ids=self.ids, admission=self.admission, clock=self.clock))

    @staticmethod
    async def _read_body(req: web.Request) -> bytes:
        if req.content_length is not None and req.content_length > request.MAX_BODY:
            raise errors.too_large()
        try:
            body = await req.read()  # all of it: ``content.read(n)`` returns only what has arrived so far
        except web.HTTPRequestEntityTooLarge:
            raise errors.too_large() from None
        except web_protocol.RequestPayloadError as e:  # a Content-Encoding its bytes are not in
            raise errors.bad_request(f"the request body could not be read: {str(e).splitlines()[-1].strip()}") from None
        if len(body) > request.MAX_BODY:
            raise errors.too_large()
        return body

    # --- non-resource endpoints ------------------------------------------------------------------

    async def _health(self, path: str) -> web.Response:
        """``/livez``, ``/readyz`` and ``/healthz`` as kube-apiserver answers them without ``?verbose``:
        ``ok``, or 500 with each check and ``<path> check failed``. All three ask etcd (``etcd``: a read
        that needs its quorum, 2 s at most) and whether the server has finished starting; ``/readyz``
        adds ``etcd-readiness``, the same read with its own timeout. (kube runs more checks: informer
        sync, each post-start hook, shutdown; labkit has one post-start hook, its bootstrap.)"""
        etcd = await self._off_loop(self.store.check)
        checks = [("ping", ""), ("log", ""), ("etcd", etcd)]
        if path == "/readyz":
            checks.append(("etcd-readiness", etcd))
        checks.append(("poststarthook/labkit-bootstrap", "" if self.ready else "not finished"))
        if all(not why for _, why in checks):
            return web.Response(status=200, text="ok", content_type="text/plain")
        lines = [f"[+]{name} ok" if not why else f"[-]{name} failed: reason withheld" for name, why in checks]
        return web.Response(status=500, text="\n".join([*lines, f"{path.strip('/')} check failed"]),
                            content_type="text/plain")

    def _non_resource(self, req: web.Request, info: request.RequestInfo | None = None) -> web.Response:
        path = req.path.rstrip("/") or "/"
        if req.method not in ("GET", "HEAD"):
            raise errors.method_not_supported(path, req.method)
        if path == "/version":
            return _json(200, version_info())
        accept = req.headers.get("Accept")
        served, external = self.api_services.keys(), self.aggregator.groups()
        if path in ("/api", "/apis"):
            version = discovery.discovery_media_type(accept)
            if version:
                return _json(200, discovery.aggregated_discovery(core=path == "/api", version=version, served=served,
                                                                 external=external),
                             discovery.AGGREGATED_CONTENT_TYPE[version])
            if path == "/api":
                return _json(200, discovery.api_versions(self.url.removeprefix("https://")))
            return _json(200, discovery.api_group_list(served, external))
        parts = path.strip("/").split("/")
        doc = None
        if parts[0] == "apis" and len(parts) == 2:
            doc = discovery.api_group(parts[1], served, external)
        elif parts[0] == "api" and len(parts) == 2:
            doc = discovery.api_resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = discovery.api_resource_list(parts[1], parts[2], served)
        if doc is None:
            raise errors.not_found_path()
        return _json(200, doc)

    async def _openapi(self, req: web.Request, path: str) -> web.Response:
        """``/openapi/v2`` and ``/openapi/v3[/<group-version>]`` as kube-openapi's handlers answer them
        (:mod:`labkit.apiserver.openapi`): JSON, gzipped when the client takes it, with an ``Etag``; a
        group-version asked for at its current ``hash`` may be cached for a year, at an old one it is
        redirected to the current. v2 comes in protobuf when asked (kubectl asks). The documents are built
        at the first request, off the event loop."""
        if req.method not in ("GET", "HEAD"):
            raise errors.method_not_supported(path, req.method)
        accept = req.headers.get("Accept", "")
        wanted = next((t for t in accept.split(",") if "json" in t or "protobuf" in t), "application/json")
        headers = {"Content-Type": "application/json"}
        if path == "/openapi/v2" and "protobuf" in wanted:
            headers["Content-Type"] = OPENAPI_V2_CONTENT_TYPE
            served = await asyncio.to_thread(openapi.v2_protobuf, KUBERNETES_VERSION)
        elif path == "/openapi/v2":
            served = await asyncio.to_thread(openapi.v2, KUBERNETES_VERSION)
        elif path == "/openapi/v3":
            served = await asyncio.to_thread(openapi.v3_index, KUBERNETES_VERSION)
        else:
            gv = path.removeprefix("/openapi/v3/")
            found = (await asyncio.to_thread(openapi.v3, KUBERNETES_VERSION)).get(gv)
            if found is None:
                raise errors.not_found_path()
            served = found
            asked = req.query.get("hash")
            if asked and asked != served.etag:
                return web.Response(status=301, headers={"Location": f"/openapi/v3/{gv}?hash={served.etag}"})
            if asked:
                expires = email.utils.format_datetime(now_utc() + dt.timedelta(days=365), usegmt=True)
                headers.update({"Vary": "Accept", "Cache-Control": "public, immutable", "Expires": expires})
        headers["Etag"] = f'"{served.etag}"'
        if req.headers.get("If-None-Match") == headers["Etag"]:
            return web.Response(status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
        if "gzip" in req.headers.get("Accept-Encoding", ""):
            return web.Response(status=200, body=served.gzipped, headers={**headers, "Content-Encoding": "gzip"})
        return web.Response(status=200, body=served.body, headers=headers)

    # --- resources -------------------------------------------------------------------------------

    async def _resource(self, req: web.Request, call: handlers.Call) -> web.StreamResponse:
        info = call.info
        res = info.resource
        assert res is not None
        sub = info.subresource
        if sub in ("log", "exec", "attach", "portforward"):
            return await self._connect(req, call)
        if sub == "proxy":
            return await self._node_proxy(req, call)
        fmt = request.response_format(req.headers.get("Accept"))
        if fmt == "table" and isinstance(call.registry, VersionedRegistry):
            call.registry = call.registry.storage  # kube prints Tables from its internal version, whatever was asked
        if res.plural == "endpoints" and not res.group:  # KEP-4974, from Kubernetes 1.33
            call.warnings.append("v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice")
        if res.aggregated:
            return self._aggregated(req, call, fmt)
        if not res.stored:
            if req.method != "POST":
                raise errors.method_not_supported(res.plural, req.method)
            if res.kind == "Binding":
                return self._respond(req, call, await self._off_loop(legacy_binding, call, self.registry("pods")), fmt)
            return self._respond(req, call, await self._off_loop(review, call, self.authorizer), fmt)
        if info.verb == "watch":
            return await self._watch(req, call, fmt)
        handler = self._handler(req.method, info, res, fmt)
        return self._respond(req, call, await self._off_loop(handler, call), fmt)

    def _aggregated(self, req: web.Request, call: handlers.Call, fmt: str) -> web.Response:
        """A request for an APIService's group-version, answered by its backend (kube-aggregator's proxy)."""
        info = call.info
        res = info.resource
        assert res is not None
        backend = self.api_services.get(res.group_version)
        if backend is None:  # no APIService serves it: as if the group did not exist
            raise errors.not_found_path()
        if req.method != "GET" or info.verb == "watch":
            raise errors.method_not_supported(res.plural, info.verb, res.group)
        body = backend.serve(info, call.query, fmt == "table")
        return _json(200, body, tables.TABLE_CONTENT_TYPE if body.get("kind") == "Table" else "application/json")

    async def _proxy(self, req: web.Request, user: UserInfo, api_service: Obj) -> web.StreamResponse:
        """A request for an extension API server's group-version, passed on with the user's identity
        (``handler_proxy.go``): ``503 service unavailable`` while the APIService is not Available or its
        Service has no ready endpoint, 503 with the dial's error when the backend cannot be reached; the
        backend's answer, watches included, streamed back as it comes."""
        if not is_available(api_service):
            return _plain_error(503, "service unavailable")
        try:
            host, port = self.aggregator.endpoint(api_service)
        except aggregator_proxy.ResolveError:
            return _plain_error(503, "service unavailable")
        try:
            tls = self.aggregator.tls(api_service)
        except ValueError as e:  # kube answers its transport-building error as a 500; labkit says the
            return _plain_error(503, str(e))  # backend cannot be reached, as for any other dial failure
        body = await self._read_body(req)
        try:
            backend = await aggregator_proxy.send(
                self.aggregator.dial, host, port, method=req.method, target=req.raw_path, body=body, tls=tls,
                tls_name=aggregator_proxy.server_name(api_service),
                headers=aggregator_proxy.forwarded_headers(req.headers.items(), user))
        except OSError as e:  # refused, reset, TLS
            return _plain_error(503, aggregator_proxy.dial_error(e, host, port))
        try:
            response = web.StreamResponse(status=backend.status)
            for name, value in aggregator_proxy.hop_free(backend.headers):
                response.headers.add(name, value)
            await response.prepare(req)
            with contextlib.suppress(OSError):  # either side went away: the stream ends
                async for chunk in backend.body():
                    await response.write(chunk)
                await response.write_eof()
        finally:
            backend.close()
        return response

    def _handler(self, method: str, info: request.RequestInfo, res: Resource, fmt: str) -> Handler:
        sub = info.subresource
        routes: dict[tuple[str, str], Handler] = {
            ("GET", ""): handlers.get if info.name else (handlers.list_json if fmt == "json"
                                                         else handlers.list_objects),
            ("GET", "status"): handlers.get,
            ("POST", ""): handlers.create,
            ("PUT", ""): handlers.update, ("PUT", "status"): handlers.update,
            ("PATCH", ""): handlers.patch_object, ("PATCH", "status"): handlers.patch_object,
            ("DELETE", ""): handlers.delete if info.name else handlers.delete_collection,
            **SUBRESOURCE_HANDLERS,
            ("POST", "token"): lambda call: token_request(
                call, lambda user, groups: self.pki.issue_token(user=user, groups=groups),
                lambda namespace, name: self._lookup("pods", namespace, name)),
        }
        handler = routes.get((method, sub))
        if (handler is None or (method == "POST" and not sub and info.name)
                or (method in ("PUT", "PATCH") and not info.name)):
            raise errors.method_not_supported(f"{res.plural}/{sub}" if sub else res.plural, method)
        return handler

    def _respond(self, req: web.Request, call: handlers.Call, result: tuple[int, Obj | bytes],
                 fmt: str) -> web.Response:
        code, body = result
        if isinstance(body, bytes):
            return web.Response(status=code, body=body, headers={"Content-Type": "application/json"})
        if body.get("kind") == "Status" and fmt != "yaml":  # a binding's Success, written as kube writes it
            return web.Response(status=code, body=errors.encode_status(body),
                                headers={"Content-Type": "application/json"})
        info = call.info
        res = call.registry.resource if info.resource is not None else None
        convertible = res is not None and res.stored and not info.subresource and req.method == "GET"
        if fmt == "table" and convertible:
            assert res is not None
            items = body["items"] if "items" in body else [body]
            meta = body.get("metadata", {}) if "items" in body else {}
            return _json(code, tables.table(res, items, include_object=call.query.get("includeObject", "Metadata"),
                                            now=call.now, list_meta=meta), tables.TABLE_CONTENT_TYPE)
        if fmt == "partial" and convertible:
            if "items" in body:
                body = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                        "metadata": body.get("metadata", {}), "items": [_partial(o) for o in body["items"]]}
            else:
                body = _partial(body)
        if fmt == "yaml":
            return web.Response(status=code, body=yaml.safe_dump(body, sort_keys=False).encode(),
                                headers={"Content-Type": "application/yaml"})
        return _json(code, body)

    async def _connect(self, req: web.Request, call: handlers.Call) -> web.StreamResponse:
        """log / exec / attach / portforward: reach the kubelet of the pod's node."""
        info = call.info
        pod = call.registry.get(info.namespace, info.name)
        node = pod.get("spec", {}).get("nodeName")
        if not node:
            if info.subresource == "log":  # nothing has run yet, so there is nothing to show
                return web.Response(status=200, body=b"", content_type="text/plain")
            raise errors.bad_request(f"pod {info.name} does not have a host assigned")
        handler = self.connect_handlers.get(info.subresource)
        if handler is None:
            raise errors.ApiError(503, "ServiceUnavailable",
                                  f'no kubelet is serving {info.subresource} for node "{node}"')
        return await handler(req, call)

    async def _node_proxy(self, req: web.Request, call: handlers.Call) -> web.Response:
        """``nodes/NAME/proxy/<path>`` (``pkg/registry/core/node/rest/proxy.go``): a GET of the kubelet's
        ``/metrics/resource`` or ``/metrics/cadvisor``, the kubelet paths labkit's kubelets serve over it;
        any other is the kubelet's 404."""
        name = call.info.name
        await self._off_loop(call.registry.get, "", name)  # 404 for a node that does not exist
        kubelet = self.kubelets.get(name)
        tail = req.path.split("/proxy", 1)[1]
        if kubelet is None:
            raise errors.ApiError(503, "ServiceUnavailable", f'no kubelet is serving node "{name}"')
        metrics = {"/metrics/resource": kubelet.metrics_resource, "/metrics/cadvisor": kubelet.metrics_cadvisor}
        if req.method != "GET" or tail not in metrics:
            return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
        return web.Response(status=200, text=await metrics[tail](),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    def _watch_cache(self, reg: Registry) -> watch.WatchCache:
        key = (reg.resource.group, reg.resource.version, reg.resource.plural)
        cache = self._watch_caches.get(key)
        if cache is None:
            cache = self._watch_caches[key] = watch.WatchCache(reg)
        return cache

    async def _watch(self, req: web.Request, call: handlers.Call, fmt: str) -> web.StreamResponse:
        info, reg, q = call.info, call.registry, call.query
        if fmt == "yaml":  # there is no streaming YAML
            raise errors.ApiError(406, "NotAcceptable", "only the following media types are accepted: "
                                                        "application/json;stream=watch")
        field_selector = q.get("fieldSelector", "")
        if info.name:  # GET .../pods/NAME?watch=true watches one object
            field_selector = ",".join(filter(None, [f"metadata.name={info.name}", field_selector]))
        matches = reg.matcher(q.get("labelSelector", ""), field_selector)
        raw_initial = q.get("sendInitialEvents")
        send_initial = None if raw_initial is None else request.parse_bool(raw_initial, "sendInitialEvents")
        allow_bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        rv = q.get("resourceVersion", "")
        if send_initial is not None:
            if not allow_bookmarks or q.get("resourceVersionMatch") != "NotOlderThan":
                raise errors.unprocessable(
                    'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is only '
                    "supported with allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan")
        elif q.get("resourceVersionMatch"):
            raise errors.unprocessable('ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
                                       "resourceVersionMatch is forbidden for watch")
        if rv not in ("", "0") and not rv.isdigit():
            raise errors.bad_request(f"invalid resource version: {rv!r}")
        # kube's watch ends after timeoutSeconds (a negative one at once); 0 or none is its
        # --min-request-timeout, which labkit leaves open
        seconds = request.parse_int64(q["timeoutSeconds"]) if "timeoutSeconds" in q else 0
        if "limit" in q:  # read as a list reads it, though a watch has no use for it
            request.parse_int64(q["limit"])
        timeout = None if seconds == 0 else max(float(seconds), 0.0)
        as_table = fmt == "table"
        include = q.get("includeObject", "Metadata")
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": tables.TABLE_CONTENT_TYPE if as_table else "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(req)
        with_columns = True

        async def send(kind: str, obj: Obj, change: watch.Change | None) -> None:
            nonlocal with_columns
            meta = obj["metadata"]
            if fmt == "partial" and kind != "BOOKMARK":
                line = codec.dumps({"type": kind, "object": _partial(obj)}) + b"\n"
            elif as_table and kind != "BOOKMARK":
                sent = tables.table(reg.resource, [obj], include_object=include, now=self.clock(),
                                    list_meta={"resourceVersion": meta["resourceVersion"]}, with_columns=with_columns)
                with_columns = False
                line = codec.dumps({"type": kind, "object": sent}) + b"\n"
            elif change is not None:
                line = change.line(kind, obj)
            else:
                line = codec.dumps({"type": kind, "object": obj}) + b"\n"
            self.trace.watch_event(user=call.user.name, resource=info.plural, type=kind,
                                   namespace=meta.get("namespace", ""), name=meta.get("name", ""),
                                   revision=int(meta.get("resourceVersion") or 0))
            await resp.write(line)  # recorded first: a reader may see the line before this write returns

        try:
            async with asyncio.timeout(timeout):
                await watch.watch(self._watch_cache(reg), info.namespace, send, matches=matches, resource_version=rv,
                                  send_initial_events=send_initial,
                                  allow_bookmarks=allow_bookmarks, off_loop=self._off_loop,
                                  backed_up=lambda: backed_up(req),
                                  trigger=reg.trigger(field_selector))
        except errors.ApiError as e:
            await resp.write(watch_error(e))
        except (TimeoutError, ConnectionError):
            pass
        except Exception as e:  # noqa: BLE001 - the stream has begun: a bug ends it with an ERROR event
            with contextlib.suppress(ConnectionError):
                await resp.write(watch_error(errors.internal(f"{type(e).__name__}: {e}")))
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
        return resp
