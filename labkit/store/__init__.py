"""The cluster's store: etcd's v3 data model, behind one interface.

Mirrors what kube-apiserver needs from etcd (``go.etcd.io/etcd/server/mvcc`` and the ``clientv3``
API that ``k8s.io/apiserver/pkg/storage/etcd3`` calls):

- one global ``revision`` that every write bumps;
- per key ``create_revision``, ``mod_revision`` and ``version`` (MVCC history, so a range can read
  at an older revision until it is compacted);
- ``range`` by key or prefix with a limit, ``put``, ``delete``;
- ``txn``: compare ``mod_revision`` (compare-and-swap), then run the success or failure ops;
- ``watch`` a key or prefix from a revision, fanned out to any number of watchers;
- ``compact``: history below the compacted revision is gone; reading or watching there raises
  :class:`Compacted` (etcd's ``ErrCompacted``), which the API server turns into ``410 Gone``;
- leases with a TTL: keys attached to a lease are deleted when it expires.

Backends: :class:`~labkit.store.memory.MemoryStore` (the default),
:class:`~labkit.store.sqlite.SQLiteStore` (a file, WAL) and :class:`~labkit.store.etcd.EtcdStore`
(a real etcd, through its JSON gateway; :mod:`labkit.store.etcd_member` starts one member for a
cluster). The first two leave out multi-member Raft, gRPC, auth,
range by arbitrary ``[key, range_end)`` intervals (prefix is what Kubernetes uses), ``compare`` on
anything but ``mod_revision``/``create_revision``/``version``/``value``.

Keys are laid out as kube-apiserver lays them: ``/registry/<resource>/<namespace>/<name>`` for
namespaced resources and ``/registry/<resource>/<name>`` for cluster-scoped ones (nodes live under
``/registry/minions``, services under ``/registry/services/specs``). Values are JSON bytes (the
real one stores protobuf; JSON lets a learner read them).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from typing import Literal


class StoreError(Exception):
    """Base class of store errors."""


class Compacted(StoreError):
    """The requested revision has been compacted (etcd: ``mvcc: required revision has been compacted``)."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"required revision {requested} has been compacted (compacted revision {compacted})")
        self.requested = requested
        self.compacted = compacted


class FutureRevision(StoreError):
    """The requested revision is newer than the store's (etcd: ``mvcc: required revision is a future revision``)."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"required revision {requested} is a future revision (current revision {current})")
        self.requested = requested
        self.current = current


class LeaseNotFound(StoreError):
    """No lease with that id (etcd: ``lease not found``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class KeyValue:
    """One key at one revision (etcd ``mvccpb.KeyValue``)."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """A change (etcd ``mvccpb.Event``). For DELETE, ``kv`` has the key, empty value and
    ``mod_revision`` = the deleting revision; ``prev_kv`` is the last live value."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RangeResult:
    kvs: list[KeyValue]
    count: int  # number of keys in the range (ignoring limit)
    more: bool  # True when limit cut the result
    revision: int  # the store revision the range was read at (header.revision in etcd)


@dataclasses.dataclass(frozen=True, slots=True)
class Compare:
    """A txn guard: ``target`` of ``key`` ``op`` ``value``. ``mod_revision == 0`` means "key absent"."""

    key: str
    target: Literal["mod_revision", "create_revision", "version", "value"]
    op: Literal["==", "!=", "<", ">"]
    value: int | bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes
    lease: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Delete:
    key: str
    prefix: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Get:
    key: str
    prefix: bool = False
    limit: int = 0


Op = Put | Delete | Get


@dataclasses.dataclass(frozen=True, slots=True)
class PutResult:
    revision: int
    prev_kv: KeyValue | None


@dataclasses.dataclass(frozen=True, slots=True)
class DeleteResult:
    revision: int
    deleted: list[KeyValue]  # the prev_kvs


@dataclasses.dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int
    responses: list[PutResult | DeleteResult | RangeResult]


WatchCallback = Callable[[Sequence[Event]], None]


class WatchHandle(abc.ABC):
    """A registered watcher; ``cancel()`` stops delivery (idempotent)."""

    @abc.abstractmethod
    def cancel(self) -> None: ...


class Store(abc.ABC):
    """The interface every backend implements. All methods are thread-safe.

    Writes are serialised; each committed write (or txn) gets the next revision and its events are
    delivered, in revision order, to every matching watcher *before* the write returns, by calling
    the watcher's callback from the writing thread. Callbacks must be quick and must not call back
    into the store (the API server hands events to its event loop with ``call_soon_threadsafe``).
    """

    #: calls cross the network and may wait seconds (an etcd election, a lost quorum): callers on an
    #: event loop make them from threads
    remote = False

    @property
    @abc.abstractmethod
    def revision(self) -> int:
        """The current revision (starts at 1 for an empty store, as etcd's does)."""

    @property
    @abc.abstractmethod
    def compact_revision(self) -> int:
        """The last compacted revision (0 if never compacted)."""

    @abc.abstractmethod
    def range(self, key: str, *, prefix: bool = False, limit: int = 0, revision: int = 0) -> RangeResult:
        """Keys equal to ``key`` (or starting with it when ``prefix``), sorted by key, read at
        ``revision`` (0 = current). Raises :class:`Compacted` / :class:`FutureRevision`."""

    @abc.abstractmethod
    def put(self, key: str, value: bytes, *, lease: int = 0) -> PutResult: ...

    @abc.abstractmethod
    def delete(self, key: str, *, prefix: bool = False) -> DeleteResult:
        """Delete a key (or every key under a prefix). Deleting nothing does not bump the revision."""

    @abc.abstractmethod
    def txn(self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()) -> TxnResult:
        """Atomically: if every compare holds run ``success`` else ``failure``. A txn with writes
        bumps the revision once, whatever the number of writes."""

    @abc.abstractmethod
    def watch(self, key: str, callback: WatchCallback, *, prefix: bool = False, start_revision: int = 0) -> WatchHandle:
        """Deliver events for ``key`` (or prefix) with revision >= ``start_revision`` (0 = only new
        ones). History is replayed synchronously before this returns. Raises :class:`Compacted`
        when ``start_revision`` < ``compact_revision`` (and not 0): as in etcd, a watch *from* the
        compacted revision is allowed and replays what compaction kept there."""

    @abc.abstractmethod
    def compact(self, revision: int) -> None:
        """Drop history older than ``revision`` (keeping each key's latest value at or below it)."""

    @abc.abstractmethod
    def lease_grant(self, ttl: float) -> int:
        """A new lease id with ``ttl`` seconds to live."""

    @abc.abstractmethod
    def lease_keepalive(self, lease: int) -> float:
        """Renew a lease; returns its TTL. Raises :class:`LeaseNotFound`."""

    @abc.abstractmethod
    def lease_revoke(self, lease: int) -> None:
        """Revoke a lease and delete its keys (one revision). Raises :class:`LeaseNotFound`."""

    @abc.abstractmethod
    def lease_time_to_live(self, lease: int) -> tuple[float, list[str]]:
        """Remaining seconds and attached keys. Raises :class:`LeaseNotFound`."""

    @abc.abstractmethod
    def expire_leases(self) -> int:
        """Revoke every expired lease now; returns how many. Backends also do this on their own
        timer, so callers rarely need it."""

    def check(self, timeout: float = 2.0) -> str:
        """Why the store cannot serve now (kube-apiserver's ``etcd`` health check), or "" when it can."""
        return ""

    @abc.abstractmethod
    def close(self) -> None: ...


def open_store(spec: str = "memory") -> Store:
    """A store from a spec: ``memory``, ``sqlite:PATH`` or ``etcd://HOST:PORT[,HOST:PORT...]`` (an etcd
    already running: :func:`labkit.store.etcd.open_etcd`; ``Cluster(store="etcd")`` starts one)."""
    if spec == "memory":
        from labkit.store.memory import MemoryStore

        return MemoryStore()
    if spec.startswith("sqlite:"):
        from labkit.store.sqlite import SQLiteStore

        return SQLiteStore(spec.removeprefix("sqlite:"))
    if spec.startswith("etcd://"):
        from labkit.store.etcd import open_etcd

        return open_etcd(spec)
    raise ValueError(f"unknown store {spec!r}: expected 'memory', 'sqlite:PATH' or 'etcd://HOST:PORT'")


__all__ = [
    "Compacted", "Compare", "Delete", "DeleteResult", "Event", "FutureRevision", "Get", "KeyValue",
    "LeaseNotFound", "Op", "PutResult", "RangeResult", "Store", "StoreError", "TxnResult", "Put",
    "WatchCallback", "WatchHandle", "open_store",
]
