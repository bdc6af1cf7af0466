"""The admission chain: plugins that may change (mutate) and then check (validate) every write.

Mirrors ``k8s.io/apiserver/pkg/admission`` (``Attributes``, ``MutationInterface``,
``ValidationInterface``) and a few of kube-apiserver's default plugins from
``k8s.io/kubernetes/plugin/pkg/admission``:

- ``NamespaceLifecycle``: no new objects in a missing or terminating namespace; the system
  namespaces cannot be deleted. As kube's, it reads the namespace from a cache the API server keeps
  by watching the store (:class:`ObjectCache`, kube's namespace informer) and asks the store
  itself only when the cache does not have it, or when this server deleted the namespace in the last
  30 s and the cache still says it is Active (kube's ``forceLiveLookupCache``). Left out: kube's
  50 ms wait for the cache before that live read (here the server's own writes are in its cache when
  they return, and a sleep would stop the server's one event loop);
- ``ServiceAccount``: a pod without ``serviceAccountName`` runs as ``default``, and every pod gets the
  account's credentials: a projected volume ``kube-api-access-<5 chars>`` (a bound token that the
  kubelet requests, 3607 s, the cluster's CA from ``kube-root-ca.crt``, the namespace) mounted
  read-only at ``/var/run/secrets/kubernetes.io/serviceaccount`` in every container, unless the pod
  or else its ServiceAccount (read from a cache) sets ``automountServiceAccountToken: false``. Left
  out: refusing a pod whose account does not exist yet (kube answers 403 until the service account
  controller has made ``default`` in a new namespace; labkit lets the pod in);
- ``Priority``: ``priorityClassName`` resolves to ``priority`` (and the default class, if any).

``LimitRanger`` and ``ResourceQuota`` have modules of their own (``admission_limitranger.py``,
``admission_resourcequota.py``); the chain runs them where kube's ``AllOrderedPlugins`` puts them.
Left out: webhooks, pod security. The seam is the lesson: a plugin is a class
with ``admit`` and/or ``validate``, appended to :attr:`AdmissionChain.plugins`.
"""

from __future__ import annotations

import builtins
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence

from labkit import store as kv
from labkit.apimachinery.meta import Obj
from labkit.apiserver import errors
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.resources import Resource

#: reads an object through the API server's storage: (plural, namespace, name) -> object or None
Lookup = Callable[[str, str, str], Obj | None]
#: lists objects through the API server's storage: plural -> objects
ListAll = Callable[[str], list[Obj]]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public")
#: how long after a namespace's DELETE a create in it reads the namespace from the store when the
#: cache still says Active (kube's ``forceLiveLookupTTL``)
FORCE_LIVE_LOOKUP_TTL = 30.0


@dataclasses.dataclass(frozen=True, slots=True)
class Attributes:
    operation: str  # CREATE, UPDATE, DELETE
    resource: Resource
    subresource: str
    namespace: str
    name: str
    user: UserInfo | None
    dry_run: bool


class AdmissionPlugin:
    name = ""

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        """Mutate ``obj`` before validation."""

    def validate(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        """Raise an :class:`~labkit.apiserver.errors.ApiError` to refuse the request."""


class ObjectCache:
    """Every object under a key prefix as the store's watch last showed it: what kube-apiserver's
    informers hold for its admission plugins (namespaces for NamespaceLifecycle, LimitRanges for
    LimitRanger, ResourceQuotas for ResourceQuota). :meth:`start` watches the prefix, then reads it once;
    each key keeps the newest revision seen by either, and a delete leaves a tombstone, so neither
    order of arrival brings back an older state. The store delivers a write's events before the
    write returns, so this server's own writes are here when they return; another API server's
    (an HA cluster) arrive with its watch. Thread-safe: the store calls back from its own thread."""

    def __init__(self, store: kv.Store, prefix: str, decode: Callable[[kv.KeyValue], Obj]) -> None:
        self._store, self._prefix, self._decode = store, prefix, decode
        self._entries: dict[str, tuple[int, Obj | None]] = {}  # name -> (revision, object or None: deleted)
        self._lock = threading.Lock()
        self._handle: kv.WatchHandle | None = None
        self.synced = False
        #: called (from the store's thread) with the keys (after the prefix) the watch changed, if set
        self.on_change: Callable[[builtins.list[str]], None] | None = None

    def start(self) -> None:
        """Watch, then list (kube's informer lists, then watches from the list's revision; here the
        watch comes first, so nothing between the two is missed and no history has to be read)."""
        if self._handle is not None:
            return
        self._handle = self._store.watch(self._prefix, self._on_events, prefix=True)
        listed = self._store.range(self._prefix, prefix=True)
        with self._lock:
            for item in listed.kvs:
                self._keep(item.key, item.mod_revision, item)
        self.synced = True

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.synced = False

    def get(self, name: str) -> Obj | None:
        """The object (key after the prefix: ``name``, or ``namespace/name``) as last seen, or None
        when the cache does not have it."""
        entry = self._entries.get(name)
        return entry[1] if entry is not None else None

    def list(self, namespace: str) -> list[Obj]:
        """The objects of one namespace (of a namespaced resource's prefix)."""
        with self._lock:
            return [obj for key, (_, obj) in self._entries.items()
                    if obj is not None and key.startswith(f"{namespace}/")]

    def values(self) -> builtins.list[Obj]:
        """Every object (of a cluster-scoped resource's prefix, or of all namespaces)."""
        with self._lock:
            return [obj for _, obj in self._entries.values() if obj is not None]

    def _on_events(self, events: Sequence[kv.Event]) -> None:
        with self._lock:
            for event in events:
                self._keep(event.kv.key, event.kv.mod_revision, event.kv if event.type == "PUT" else None)
        if self.on_change is not None:
            self.on_change([event.kv.key[len(self._prefix):] for event in events])

    def _keep(self, key: str, revision: int, item: kv.KeyValue | None) -> None:
        name = key[len(self._prefix):]
        current = self._entries.get(name)
        if current is None or revision > current[0]:
            self._entries[name] = (revision, self._decode(item) if item is not None else None)


class NamespaceLifecycle(AdmissionPlugin):
    name = "NamespaceLifecycle"

    def __init__(self, lookup: Lookup, cache: ObjectCache | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup  # the live read, from the store
        #: the namespaces as the server's watch has them; None (or not yet synced): every create reads the store
        self.cache = cache
        self._clock = clock
        self._force_live: dict[str, float] = {}  # namespace -> until when (kube's forceLiveLookupCache)

    def validate(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        res = attrs.resource
        if res.plural == "namespaces":
            if attrs.operation == "DELETE" and attrs.name in SYSTEM_NAMESPACES:
                raise errors.forbidden(f'namespaces "{attrs.name}" is forbidden: this namespace may not be deleted',
                                       "namespaces", attrs.name)
            if attrs.operation == "DELETE" and not attrs.dry_run:  # the cache may be slow to see it go
                self._force_live[attrs.name] = self._clock() + FORCE_LIVE_LOOKUP_TTL
            return
        if not res.namespaced or attrs.operation != "CREATE":
            return
        ns = self._cached(attrs.namespace)
        if ns is None:  # as a last resort, kube reads the store
            ns = self._lookup("namespaces", "", attrs.namespace)
        if ns is None:
            raise errors.not_found("namespaces", attrs.namespace)
        if ns.get("status", {}).get("phase") == "Terminating" or ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                f'{res.qualified} "{attrs.name}" is forbidden: unable to create new content in namespace '
                f"{attrs.namespace} because it is being terminated", res.plural, attrs.name, res.group)

    def _cached(self, namespace: str) -> Obj | None:
        """The namespace from the cache; None to read it from the store: not cached, or deleted here
        lately and still Active in the cache."""
        if self.cache is None or not self.cache.synced:
            return None
        ns = self.cache.get(namespace)
        until = self._force_live.get(namespace)
        if until is not None:
            if self._clock() > until:
                self._force_live.pop(namespace, None)  # another request may have dropped it
            elif ns is not None and ns.get("status", {}).get("phase", "Active") == "Active":
                return None
        return ns


#: where every container finds its service account's credentials (kube's ``DefaultAPITokenMountPath``)
SERVICE_ACCOUNT_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
#: a bound token's life as the plugin asks for it: an hour and 7 s, so a token that lives an hour can be told apart
TOKEN_EXPIRATION_SECONDS = 3607


def api_access_volume(name: str) -> Obj:
    """The ``kube-api-access`` volume as kube's plugin writes it (defaults included)."""
    return {"name": name, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}


class ServiceAccount(AdmissionPlugin):
    """``account(namespace, name)`` reads a ServiceAccount from a cache (None: not known);
    ``suffix()`` gives the volume's five random characters."""

    name = "ServiceAccount"

    def __init__(self, account: Callable[[str, str], Obj | None], suffix: Callable[[], str]) -> None:
        self.account, self.suffix = account, suffix

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        if attrs.resource.plural == "pods" and not attrs.subresource and attrs.operation == "CREATE" and obj:
            spec = obj.setdefault("spec", {})
            spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
            spec.setdefault("serviceAccount", spec["serviceAccountName"])
            if self._automount(attrs.namespace, spec):
                self._mount(spec)

    def _automount(self, namespace: str, spec: Obj) -> bool:
        if spec.get("automountServiceAccountToken") is not None:
            return bool(spec["automountServiceAccountToken"])
        account = self.account(namespace, spec["serviceAccountName"]) or {}
        return account.get("automountServiceAccountToken") is not False

    def _mount(self, spec: Obj) -> None:
        """Each container without a mount at the path gets one; the volume is added if any did."""
        volumes = spec.get("volumes") or []
        names = {v.get("name") for v in volumes if isinstance(v, dict)}
        name = f"kube-api-access-{self.suffix()}"
        while name in names:
            name = f"kube-api-access-{self.suffix()}"
        mounted = False
        for key in ("initContainers", "containers"):
            for c in spec.get(key) or []:
                if not isinstance(c, dict):
                    continue
                mounts = c.get("volumeMounts") or []
                if any(isinstance(m, dict) and m.get("mountPath") == SERVICE_ACCOUNT_MOUNT_PATH for m in mounts):
                    continue
                c["volumeMounts"] = [*mounts, {"name": name, "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH}]
                mounted = True
        if mounted:
            spec["volumes"] = [*volumes, api_access_volume(name)]


class Priority(AdmissionPlugin):
    name = "Priority"

    def __init__(self, list_all: ListAll) -> None:
        self._list_all = list_all

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        if attrs.resource.plural != "pods" or attrs.subresource or attrs.operation != "CREATE" or not obj:
            return
        spec = obj.setdefault("spec", {})
        classes = self._list_all("priorityclasses")
        wanted = spec.get("priorityClassName")
        if wanted:
            pc = next((c for c in classes if c["metadata"]["name"] == wanted), None)
            if pc is None:
                raise errors.forbidden(f'pods "{attrs.name}" is forbidden: no PriorityClass with name {wanted} '
                                       "was found", "pods", attrs.name)
        else:
            pc = next((c for c in classes if c.get("globalDefault")), None)
            if pc is not None:
                spec["priorityClassName"] = pc["metadata"]["name"]
        spec["priority"] = pc.get("value", 0) if pc else 0
        spec["preemptionPolicy"] = (pc or {}).get("preemptionPolicy") or "PreemptLowerPriority"


class AdmissionChain:
    """Runs every plugin's ``admit``, then every plugin's ``validate``."""

    def __init__(self, plugins: list[AdmissionPlugin]) -> None:
        self.plugins = plugins

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        for p in self.plugins:
            p.admit(attrs, obj, old)

    def validate(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        for p in self.plugins:
            p.validate(attrs, obj, old)
