"""What both store backends share: the write path, txn compares, watcher fan-out and the lessor.

Mirrors etcd's ``server/storage/mvcc`` (``kvstore_txn.go`` writes one revision per txn,
``watchable_store.go`` / ``watcher_group.go`` fan events out to watchers and refuse watches below the
compacted revision), ``server/etcdserver/apply`` (``applyCompare``, the txn duplicate-key check) and
``server/lease/lessor.go`` (grant, renew, revoke, expiry). A backend (:mod:`~labkit.store.memory`,
:mod:`~labkit.store.sqlite`) only stores and reads versions: it implements the ``_get``,
``_range_prefix``, ``_history``, ``_write``, ``_compact`` and lease-persistence hooks of
:class:`MVCCStore`, always called with the store lock held.

Left out: nested txns, ``compare`` on lease, ``prev_kv``/``fragment``/progress-notify watch options
(every event carries ``prev_kv`` when it is still in history), lease checkpoints and the lessor's
minimum TTL.
"""

from __future__ import annotations

import abc
import dataclasses
import itertools
import logging
import operator
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from labkit.store import (
    Compacted,
    Compare,
    Delete,
    DeleteResult,
    Event,
    FutureRevision,
    Get,
    KeyValue,
    LeaseNotFound,
    Op,
    Put,
    PutResult,
    RangeResult,
    Store,
    StoreError,
    TxnResult,
    WatchCallback,
    WatchHandle,
)

_log = logging.getLogger(__name__)

_COMPARE_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}


def key_matches(key: str, watched: str, prefix: bool) -> bool:
    """Whether ``key`` is ``watched`` (or under it when ``prefix``)."""
    return key.startswith(watched) if prefix else key == watched


def prefix_end(prefix: str) -> str | None:
    """The smallest key greater than every key starting with ``prefix`` (etcd ``GetPrefixRangeEnd``);
    ``None`` when there is none (empty prefix: every key)."""
    for i in range(len(prefix) - 1, -1, -1):
        if prefix[i] != "\U0010ffff":
            return prefix[:i] + chr(ord(prefix[i]) + 1)
    return None


def check_txn_ops(ops: Sequence[Op]) -> None:
    """etcd rejects a txn branch that writes a key twice (two puts, or a put inside a delete range)."""
    puts = [op.key for op in ops if isinstance(op, Put)]
    duplicate = len(set(puts)) != len(puts) or any(
        key_matches(key, op.key, op.prefix) for op in ops if isinstance(op, Delete) for key in puts
    )
    if duplicate:
        raise StoreError("duplicate key given in txn request")


class Watcher(WatchHandle):
    """One watch: a key or prefix, a callback, and the first revision it wants."""

    def __init__(self, group: WatcherGroup, key: str, prefix: bool, callback: WatchCallback, min_revision: int) -> None:
        self._group = group
        self.key = key
        self.prefix = prefix
        self.callback = callback
        self.min_revision = min_revision

    def deliver(self, events: Sequence[Event]) -> None:
        """Hand the matching events of one revision to the callback. A callback that raises is
        cancelled: it has missed an event, so later ones would give it a wrong picture."""
        matching = [
            e for e in events if e.kv.mod_revision >= self.min_revision and key_matches(e.kv.key, self.key, self.prefix)
        ]
        if not matching:
            return
        try:
            self.callback(matching)
        except Exception:  # noqa: BLE001 - any callback's failure cancels only its own watch
            _log.exception("watch callback for %r failed; cancelling the watch", self.key)
            self.cancel()

    def cancel(self) -> None:
        self._group.remove(self)


class WatcherGroup:
    """The registered watchers of one store (etcd ``watcherGroup``). Shares the store's lock, so a
    cancelled watcher gets nothing after ``cancel()`` returns, even from a write in another thread."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._watchers: dict[Watcher, None] = {}

    def add(self, watcher: Watcher) -> None:
        self._watchers[watcher] = None

    def remove(self, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.pop(watcher, None)

    def notify(self, events: Sequence[Event]) -> None:
        """Fan the events of one revision out to every watcher (called with the lock held)."""
        for watcher in list(self._watchers):  # a callback may cancel itself
            watcher.deliver(events)


@dataclasses.dataclass(slots=True)
class Lease:
    id: int
    ttl: float
    deadline: float  # time.monotonic() value
    keys: set[str] = dataclasses.field(default_factory=set)


class Lessor:
    """Lease bookkeeping (etcd ``lessor``): TTLs, deadlines and attached keys. Holds no store data;
    revoking (deleting the keys) is the store's job."""

    def __init__(self) -> None:
        self._leases: dict[int, Lease] = {}

    def grant(self, lease_id: int, ttl: float) -> Lease:
        lease = self._leases[lease_id] = Lease(lease_id, ttl, time.monotonic() + ttl)
        return lease

    def get(self, lease_id: int) -> Lease:
        try:
            return self._leases[lease_id]
        except KeyError:
            raise LeaseNotFound(f"lease {lease_id} not found") from None

    def remove(self, lease_id: int) -> None:
        del self._leases[lease_id]

    def track(self, events: Iterable[Event]) -> None:
        """Move key attachments after a commit: a put re-attaches the key, a delete detaches it."""
        for event in events:
            old = event.prev_kv.lease if event.prev_kv else 0
            new = event.kv.lease
            if old and old != new and old in self._leases:
                self._leases[old].keys.discard(event.kv.key)
            if new:
                self._leases[new].keys.add(event.kv.key)

    def expired(self, now: float) -> list[Lease]:
        return [lease for lease in self._leases.values() if lease.deadline <= now]

    def next_deadline(self) -> float | None:
        return min((lease.deadline for lease in self._leases.values()), default=None)


class MVCCStore(Store):
    """The :class:`~labkit.store.Store` logic on top of a backend's version storage.

    One re-entrant lock serialises everything; events are delivered with it held, so watchers see
    revisions in order. A daemon thread (etcd's lessor ``runLoop``) sleeps until the next lease
    deadline and revokes expired leases; ``close()`` stops it.
    """

    def __init__(self, *, revision: int, compact_revision: int) -> None:
        self._lock = threading.RLock()
        self._rev = revision
        self._compact_rev = compact_revision
        self._watchers = WatcherGroup(self._lock)
        self._lessor = Lessor()
        self._closed = False
        self._wake = threading.Event()
        self._timer = threading.Thread(target=self._run_lessor, name=f"{type(self).__name__}-{id(self):x}-lessor",
                                       daemon=True)
        self._timer.start()

    # --- backend hooks (called with the lock held) ----------------------------------------------

    @abc.abstractmethod
    def _get(self, key: str, revision: int) -> KeyValue | None:
        """The live version of ``key`` at ``revision`` (None if absent or deleted then)."""

    @abc.abstractmethod
    def _range_prefix(self, prefix: str, revision: int, limit: int = 0) -> tuple[list[KeyValue], int]:
        """Live versions at ``revision`` of the keys starting with ``prefix``, sorted by key: the first
        ``limit`` of them (0: all) and how many there are in all."""

    @abc.abstractmethod
    def _history(self, key: str, prefix: bool, start: int) -> list[Event]:
        """Events for the key (or prefix) with revision >= ``start``, in revision then op order."""

    @abc.abstractmethod
    def _write(self, revision: int, events: Sequence[Event]) -> None:
        """Persist the events of one new revision, atomically."""

    @abc.abstractmethod
    def _compact(self, revision: int) -> None:
        """Drop versions older than each key's latest at or below ``revision``, and tombstones at or
        below it; record ``revision`` as the compacted one."""

    @abc.abstractmethod
    def _grant_lease(self, ttl: float) -> int:
        """A fresh lease id (recorded, for a persistent backend)."""

    @abc.abstractmethod
    def _drop_lease(self, lease_id: int) -> None:
        """Forget a revoked lease (for a persistent backend)."""

    def _close_backend(self) -> None:
        """Release the backend's resources (after the lessor thread stopped)."""

    # --- reads ------------------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._rev

    @property
    def compact_revision(self) -> int:
        return self._compact_rev

    def _kvs(self, key: str, prefix: bool, revision: int) -> list[KeyValue]:
        if prefix:
            return self._range_prefix(key, revision)[0]
        kv = self._get(key, revision)
        return [kv] if kv else []

    def _range_result(self, kvs: list[KeyValue], limit: int, count: int | None = None) -> RangeResult:
        """A RangeResult from the matching kvs (or their first ``limit`` when ``count`` is given)."""
        count = len(kvs) if count is None else count
        kvs = kvs[:limit] if limit else kvs
        return RangeResult(kvs=kvs, count=count, more=len(kvs) < count, revision=self._rev)

    def range(self, key: str, *, prefix: bool = False, limit: int = 0, revision: int = 0) -> RangeResult:
        with self._lock:
            if revision > self._rev:
                raise FutureRevision(revision, self._rev)
            # etcd refuses rev < compactMainRev: reading *at* the compacted revision still works.
            if 0 < revision < self._compact_rev:
                raise Compacted(revision, self._compact_rev)
            if prefix:
                kvs, count = self._range_prefix(key, revision or self._rev, limit)
                return self._range_result(kvs, limit, count)
            return self._range_result(self._kvs(key, False, revision or self._rev), limit)

    # --- writes -----------------------------------------------------------------------------------

    def put(self, key: str, value: bytes, *, lease: int = 0) -> PutResult:
        with self._lock:
            return cast(PutResult, self._execute([Put(key, value, lease)])[1][0])

    def delete(self, key: str, *, prefix: bool = False) -> DeleteResult:
        with self._lock:
            return cast(DeleteResult, self._execute([Delete(key, prefix)])[1][0])

    def txn(self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()) -> TxnResult:
        check_txn_ops(success)
        check_txn_ops(failure)
        with self._lock:
            succeeded = all(self._compare_holds(c) for c in compare)
            revision, responses = self._execute(success if succeeded else failure)
        return TxnResult(succeeded=succeeded, revision=revision, responses=responses)

    def _compare_holds(self, compare: Compare) -> bool:
        kv = self._get(compare.key, self._rev)
        if kv is None:
            # etcd: a value compare on a missing key always fails; the others compare against 0.
            if compare.target == "value":
                return False
            actual: int | bytes = 0
        else:
            actual = getattr(kv, compare.target)
        return _COMPARE_OPS[compare.op](actual, compare.value)

    def _execute(self, ops: Sequence[Op]) -> tuple[int, list[PutResult | DeleteResult | RangeResult]]:
        """Run ops as one etcd write txn: all writes share revision ``current + 1``, which is only
        taken when something changed. Gets see the txn's earlier writes, as in etcd."""
        for op in ops:
            if isinstance(op, Put) and op.lease:
                self._lessor.get(op.lease)
        current, rev = self._rev, self._rev + 1
        pending: dict[str, Event] = {}  # insertion order is etcd's sub-revision order
        steps: list[tuple[Op, object]] = []
        for op in ops:
            if isinstance(op, Put):
                prev = self._get(op.key, current)
                kv = KeyValue(
                    key=op.key, value=op.value, create_revision=prev.create_revision if prev else rev,
                    mod_revision=rev, version=prev.version + 1 if prev else 1, lease=op.lease,
                )
                pending[op.key] = Event("PUT", kv, prev)
                steps.append((op, prev))
            elif isinstance(op, Delete):
                # Keys an earlier delete of this txn removed are gone already (puts cannot overlap).
                prevs = [kv for kv in self._kvs(op.key, op.prefix, current) if kv.key not in pending]
                for prev in prevs:
                    tombstone = KeyValue(key=prev.key, value=b"", create_revision=0, mod_revision=rev, version=0)
                    pending[prev.key] = Event("DELETE", tombstone, prev)
                steps.append((op, prevs))
            else:
                steps.append((op, self._read_in_txn(op, current, pending)))
        events = list(pending.values())
        if events:
            self._write(rev, events)
            self._rev = rev
            self._lessor.track(events)
            self._watchers.notify(events)
        responses: list[PutResult | DeleteResult | RangeResult] = []
        for op, outcome in steps:
            if isinstance(op, Put):
                responses.append(PutResult(revision=self._rev, prev_kv=outcome))  # type: ignore[arg-type]  # the op's own outcome
            elif isinstance(op, Delete):
                responses.append(DeleteResult(revision=self._rev, deleted=outcome))  # type: ignore[arg-type]  # the op's own outcome
            else:
                responses.append(self._range_result(outcome, op.limit))  # type: ignore[arg-type]  # the op's own outcome
        return self._rev, responses

    def _read_in_txn(self, op: Get, current: int, pending: dict[str, Event]) -> list[KeyValue]:
        kvs = self._kvs(op.key, op.prefix, current)
        changed = {key: event for key, event in pending.items() if key_matches(key, op.key, op.prefix)}
        if not changed:
            return kvs
        merged = {kv.key: kv for kv in kvs}
        for key, event in changed.items():
            if event.type == "PUT":
                merged[key] = event.kv
            else:
                merged.pop(key, None)
        return [merged[key] for key in sorted(merged)]

    # --- watch and compaction ---------------------------------------------------------------------

    def watch(self, key: str, callback: WatchCallback, *, prefix: bool = False, start_revision: int = 0) -> WatchHandle:
        with self._lock:
            # etcd (watcher_group.go chooseAll) compacts a watcher whose minRev < compactRev; a watch
            # *from* the compacted revision is allowed and replays what compaction kept there.
            if 0 < start_revision < self._compact_rev:
                raise Compacted(start_revision, self._compact_rev)
            watcher = Watcher(self._watchers, key, prefix, callback, start_revision or self._rev + 1)
            if start_revision and start_revision <= self._rev:
                history = self._history(key, prefix, start_revision)
                for _, group in itertools.groupby(history, key=lambda e: e.kv.mod_revision):
                    callback(list(group))
            self._watchers.add(watcher)  # under the same lock as the replay: nothing lost in between
            return watcher

    def compact(self, revision: int) -> None:
        with self._lock:
            if revision <= self._compact_rev:
                raise Compacted(revision, self._compact_rev)
            if revision > self._rev:
                raise FutureRevision(revision, self._rev)
            self._compact(revision)
            self._compact_rev = revision

    # --- leases -----------------------------------------------------------------------------------

    def lease_grant(self, ttl: float) -> int:
        if ttl <= 0:
            raise ValueError(f"lease TTL must be positive, got {ttl}")
        with self._lock:
            lease_id = self._grant_lease(ttl)
            self._lessor.grant(lease_id, ttl)
        self._wake.set()  # the lessor thread may be sleeping past the new deadline
        return lease_id

    def lease_keepalive(self, lease: int) -> float:
        with self._lock:
            found = self._lessor.get(lease)
            now = time.monotonic()
            if found.deadline <= now:
                # etcd's Renew waits for an expired lease's pending revoke, then says "not found".
                self._revoke(found)
                raise LeaseNotFound(f"lease {lease} not found")
            found.deadline = now + found.ttl
            return found.ttl

    def lease_revoke(self, lease: int) -> None:
        with self._lock:
            self._revoke(self._lessor.get(lease))

    def lease_time_to_live(self, lease: int) -> tuple[float, list[str]]:
        with self._lock:
            found = self._lessor.get(lease)
            return max(0.0, found.deadline - time.monotonic()), sorted(found.keys)

    def expire_leases(self) -> int:
        with self._lock:
            expired = self._lessor.expired(time.monotonic())
            for lease in expired:
                self._revoke(lease)
            return len(expired)

    def _revoke(self, lease: Lease) -> None:
        """Delete the lease's keys in one revision (sorted, as etcd's ``Revoke``), then forget it."""
        self._execute([Delete(key) for key in sorted(lease.keys)])
        self._lessor.remove(lease.id)
        self._drop_lease(lease.id)

    def _restore_lease(self, lease_id: int, ttl: float) -> Lease:
        """Re-create a persisted lease with a full TTL (etcd ``Promote`` after a restart)."""
        lease = self._lessor.grant(lease_id, ttl)
        self._wake.set()
        return lease

    def _run_lessor(self) -> None:
        while True:
            with self._lock:
                deadline = self._lessor.next_deadline()
            self._wake.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
            self._wake.clear()
            if self._closed:
                return
            try:
                self.expire_leases()
            except Exception:  # noqa: BLE001 - the lessor thread must outlive one failed expiry
                _log.exception("expiring leases failed")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._timer.join()
        with self._lock:
            self._close_backend()
