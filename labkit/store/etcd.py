"""The store on a real etcd: the :class:`~labkit.store.Store` interface over etcd's v3 API.

Mirrors what ``k8s.io/apiserver/pkg/storage/etcd3`` does with ``clientv3``: keys and revisions are
etcd's own (a put here is a put in etcd, ``etcdctl get --prefix /registry/pods/`` lists the
learner's pods), compare-and-swap is an etcd ``Txn``, a range with a limit is a ``Range``, old
revisions, compaction (``410 Gone`` upstream) and leases are etcd's. Nothing is cached: every call
asks etcd.

**Watch.** The store holds *one* etcd watch on the whole keyspace (as kube-apiserver's cacher holds
one per resource) and fans its events out to the store's own watchers, so ``watch()`` from now on
costs no round trip. A write returns once the events of its revision have gone through that fan-out
(every call waits until the revision etcd answered with has been delivered), which gives the
interface's promise: a watcher has seen a write when ``put()`` returns, as with the other backends.
A watch *from an old revision* opens a second etcd watch, on every key, from that revision, and
replays what it gets up to the revision the fan-out had reached; on every key because that is the
one way to know when the replay is complete (the last revision always has an event there), where a
"progress" request would not do: etcd 3.4 may answer it before the events (etcd issue 15220, fixed
in 3.4.25 and 3.5.8). etcd sends an old-revision watch its history on its next sync pass, every
100 ms, so such a watch takes up to that long to start; ``revision`` is the revision delivered.

**Client.** etcd's own JSON gateway (``/v3/kv/range``, ``/v3/watch`` ...) over keep-alive HTTP/1.1
and TLS (:mod:`labkit.store._gateway`): no dependency. Measured on this project's 2-core machine
against etcd 3.4.23 with TLS client certificates, 1 KB values, one thread (``benchmarks/etcd_clients.py``,
three runs; "watch" is a put until a watching thread has its event, for labkit the put itself):

=============================  ================  ================  ================  ============
back to back, p50 / p99 (ms)   put               range             watch             CPU/range
=============================  ================  ================  ================  ============
labkit, JSON gateway           1.7-2.2 / 6-7     0.6-1.2 / 4-7     1.0-1.9 / 3-8     0.12-0.22 ms
grpcio, synchronous stubs      0.9-1.3 / 4-8     0.6-0.7 / 3-4     0.9-1.1 / 2-5     0.34-0.41 ms
etcd3gw 2.7 (requests)         2.1-3.6 / 8-10    1.8-2.8 / 5-8     2.7-3.7 / 6-8     1.0-1.9 ms
=============================  ================  ================  ================  ============

Back to back, gRPC saves up to 0.8 ms a put (the gateway forwards each request to etcd's own gRPC
server); at the pace of the goal, 100 writes/s, the difference is gone: put p50 2.4-2.7 ms for labkit
against 2.1-2.3 ms for grpcio, p99 6.5-9.2 against 7.5-9.3 ms, range p50 1.2 against 1.2-1.3 ms.
This client spends a third of grpcio's CPU per call (its threads included), and grpcio would add
19 MB and protobuf. The libraries: ``etcd3`` (python-etcd3) had its last release (0.12) in 2020, and
its generated code does not import with today's protobuf (it asks for 3.20 or older); ``aetcd`` 1.0 is
asyncio-only (this interface is synchronous: every call would hop threads) and opens only insecure
channels, no client certificates; ``etcd3gw`` is maintained but built on ``requests``, which lets
``REQUESTS_CA_BUNDLE`` override the CA it was given (it failed here until that variable was unset),
and is the slowest.

**Where etcd differs from the other backends** (the conformance tests say so where they assert it):

- a lease's TTL is whole seconds, at least etcd's minimum (``3/2 × election timeout``, rounded up:
  2 s with kubeadm's defaults); ``lease_keepalive`` returns the TTL etcd granted and
  ``lease_time_to_live`` the whole seconds left; etcd revokes expired leases on its own clock, every
  500 ms, so ``expire_leases()`` does nothing (returns 0);
- ``compact_revision`` is the last compaction this client made or learnt of from etcd's errors (etcd
  has no call that reports it); it is found at open by bisecting with ranges;
- when nothing is watching a key, its events still travel to this process (one watch on every key).

Connecting: :func:`open_etcd` takes ``etcd://HOST:PORT[,HOST:PORT...]`` (see :data:`TLS_ENV`).
"""

from __future__ import annotations

import base64
import itertools
import logging
import math
import os
import ssl
import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labkit.store import (
    Compacted,
    Compare,
    Delete,
    DeleteResult,
    Event,
    FutureRevision,
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
from labkit.store._common import Watcher, WatcherGroup, key_matches
from labkit.store._gateway import Gateway, GatewayError, Stream

_log = logging.getLogger(__name__)

#: the environment an ``etcd://`` spec reads its TLS files from (etcdctl's are ``ETCDCTL_CACERT`` ...);
#: query parameters ``cacert``, ``cert`` and ``key`` win over them. With a CA the store speaks TLS.
TLS_ENV = {"cacert": "LABKIT_ETCD_CACERT", "cert": "LABKIT_ETCD_CERT", "key": "LABKIT_ETCD_KEY"}
#: how long a call waits for the fan-out to deliver its revision before the store is declared broken
SETTLE_TIMEOUT = 30.0
#: how long, and how often, a read etcd answered Unavailable is sent again (clientv3's defaultBackoffWaitBetween)
READ_RETRY_SECONDS, READ_RETRY_WAIT = 2.5, 0.025
UNAVAILABLE = 14  # the gRPC code of "etcdserver: leader changed" and "no leader"
_ALL = "AA=="  # base64 of b"\0": as key and range_end, every key
_TARGETS = {"mod_revision": "MOD", "create_revision": "CREATE", "version": "VERSION", "value": "VALUE"}
_RESULTS = {"==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _key(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def _range(key: str, prefix: bool) -> dict[str, str]:
    """The ``key`` and ``range_end`` of a key or a prefix (etcd ``GetPrefixRangeEnd``: the prefix with
    its last byte below 0xff incremented; ``\\0`` for every key)."""
    raw = _key(key)
    if not prefix:
        return {"key": _b64(raw)}
    for i in range(len(raw) - 1, -1, -1):
        if raw[i] < 0xFF:
            return {"key": _b64(raw or b"\0"), "range_end": _b64(raw[:i] + bytes([raw[i] + 1]))}
    return {"key": _b64(raw or b"\0"), "range_end": _ALL}


def _kv(doc: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=base64.b64decode(doc.get("key", "")).decode("utf-8", "surrogateescape"),
        value=base64.b64decode(doc.get("value", "")),
        create_revision=int(doc.get("create_revision", 0)),
        mod_revision=int(doc.get("mod_revision", 0)),
        version=int(doc.get("version", 0)),
        lease=int(doc.get("lease", 0)),
    )


def _event(doc: dict[str, Any]) -> Event:
    prev = doc.get("prev_kv")
    return Event("DELETE" if doc.get("type") == "DELETE" else "PUT", _kv(doc["kv"]), _kv(prev) if prev else None)


def _revision(doc: dict[str, Any]) -> int:
    return int(doc.get("header", {}).get("revision", 0))


class _Replaying(Watcher):
    """A watcher whose history is still being fetched: live events wait in a buffer meanwhile."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.buffer: list[Sequence[Event]] | None = []

    def deliver(self, events: Sequence[Event]) -> None:
        if self.buffer is not None:
            self.buffer.append(events)
        else:
            super().deliver(events)

    def go_live(self) -> None:
        """Deliver what was buffered, then everything as it comes (called with the store lock held)."""
        buffered, self.buffer = self.buffer or [], None
        for events in buffered:
            super().deliver(events)


class EtcdStore(Store):
    """A :class:`~labkit.store.Store` on the etcd members at ``endpoints`` (``HOST:PORT``).

    TLS: ``ca_file`` (the etcd CA: the store speaks TLS when it is given), ``cert_file`` and
    ``key_file`` (a client certificate, for a member run with ``--client-cert-auth``).
    """

    remote = True

    def __init__(self, endpoints: Sequence[str], *, ca_file: str | Path | None = None,
                 cert_file: str | Path | None = None, key_file: str | Path | None = None) -> None:
        if (cert_file is None) != (key_file is None):
            raise ValueError("cert_file and key_file go together")
        self.ca_file, self.cert_file, self.key_file = ca_file, cert_file, key_file
        context = None
        if ca_file is not None:
            context = ssl.create_default_context(cafile=str(ca_file))
            if cert_file is not None and key_file is not None:
                context.load_cert_chain(str(cert_file), str(key_file))
        elif cert_file is not None:
            raise ValueError("a client certificate needs the etcd CA (ca_file) too")
        self._gateway = Gateway(endpoints, context)
        self._context = context
        self._lock = threading.RLock()
        self._delivered = threading.Condition(self._lock)
        self._watchers = WatcherGroup(self._lock)
        self._closed = False
        self._broken = ""  # why the fan-out stopped, if it did
        self._stream: Stream | None = None
        self._compact_rev = 0
        try:
            self._seen = _revision(self._call("/v3/kv/range", {**_range("", True), "count_only": True}))
            self._compact_rev = self._find_compact_revision(1)
        except BaseException:
            self._gateway.close()
            raise
        self._created = threading.Event()
        self._reader = threading.Thread(target=self._run_watch, name=f"EtcdStore-{id(self):x}-watch", daemon=True)
        self._reader.start()
        if not self._created.wait(10) or self._broken:
            self.close()
            raise StoreError(f"cannot watch etcd at {', '.join(self.endpoints)}: {self._broken or 'no answer'}")

    @property
    def endpoints(self) -> list[str]:
        """The members' client URLs (``https://HOST:PORT``), as etcdctl's ``--endpoints`` takes them."""
        return self._gateway.urls()

    def server_version(self) -> str:
        """``etcd VERSION`` of the member that answers (its ``Maintenance.Status``)."""
        return f"etcd {self._call('/v3/maintenance/status', {}).get('version', 'unknown')}"

    # --- calls -------------------------------------------------------------------------------------

    def _call(self, path: str, request: dict[str, Any], *, revision: int = 0) -> dict[str, Any]:
        """One call; etcd's errors as the store's. ``revision``: the one a range asked for."""
        if self._closed:
            raise StoreError("the store is closed")
        try:
            return self._retrying_reads(path, request)
        except GatewayError as e:
            if "required revision has been compacted" in e.message:
                compacted = self._compact_rev if revision < self._compact_rev else self._find_compact_revision(revision)
                raise Compacted(revision, compacted) from None
            if "required revision is a future revision" in e.message:
                raise FutureRevision(revision, self._seen) from None
            if "lease not found" in e.message:
                raise LeaseNotFound(e.message.removeprefix("etcdserver: ")) from None
            raise StoreError(e.message) from None

    def _retrying_reads(self, path: str, request: dict[str, Any]) -> dict[str, Any]:
        """One call; a range etcd refused as Unavailable (``leader changed``, ``no leader``: an election)
        is sent again every 25 ms for 2.5 s at most, as clientv3's retry interceptor does for reads
        within a request's deadline. A range that took etcd's own request timeout (7 s: no quorum) is
        not sent again, and a write never is: it may have been applied."""
        deadline = time.monotonic() + READ_RETRY_SECONDS
        while True:
            try:
                return self._gateway.call(path, request)
            except GatewayError as e:
                if path != "/v3/kv/range" or e.code != UNAVAILABLE or time.monotonic() >= deadline:
                    raise
            time.sleep(READ_RETRY_WAIT)

    def _settle(self, revision: int) -> None:
        """Wait until the fan-out has delivered ``revision`` (what etcd just answered with)."""
        if revision <= self._seen or threading.current_thread() is self._reader:
            return
        with self._delivered:
            if not self._delivered.wait_for(lambda: self._seen >= revision or self._broken or self._closed,
                                            SETTLE_TIMEOUT):
                raise StoreError(f"etcd's watch did not deliver revision {revision} within {SETTLE_TIMEOUT:g}s")
            if self._broken and self._seen < revision:
                raise StoreError(f"etcd's watch broke: {self._broken}")

    def _find_compact_revision(self, above: int) -> int:
        """etcd's compacted revision, known to be >= ``above``: the smallest revision a range can still
        read (etcd reports it nowhere else), by bisection. 0 when nothing was compacted."""
        def readable(revision: int) -> bool:
            try:
                self._gateway.call("/v3/kv/range", {"key": _ALL, "count_only": True, "revision": revision})
            except GatewayError as e:
                if "required revision has been compacted" in e.message:
                    return False
                raise
            return True

        lo = max(1, above)
        if readable(lo):
            return max(self._compact_rev, 0 if lo == 1 else lo)
        hi = max(lo + 1, _revision(self._gateway.call("/v3/kv/range", {"key": _ALL, "count_only": True})))
        while lo + 1 < hi:  # lo is compacted away, hi readable
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if readable(mid) else (mid, hi)
        self._compact_rev = max(self._compact_rev, hi)
        return self._compact_rev

    # --- reads and writes --------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._seen

    @property
    def compact_revision(self) -> int:
        return self._compact_rev

    def range(self, key: str, *, prefix: bool = False, limit: int = 0, revision: int = 0) -> RangeResult:
        request: dict[str, Any] = _range(key, prefix)
        if limit:
            request["limit"] = limit
        if revision:
            request["revision"] = revision
        response = self._call("/v3/kv/range", request, revision=revision)
        result = self._range_result(response, _revision(response))
        self._settle(result.revision)
        return result

    @staticmethod
    def _range_result(response: dict[str, Any], revision: int) -> RangeResult:
        return RangeResult(kvs=[_kv(kv) for kv in response.get("kvs", ())], count=int(response.get("count", 0)),
                           more=bool(response.get("more", False)), revision=revision)

    def put(self, key: str, value: bytes, *, lease: int = 0) -> PutResult:
        response = self._call("/v3/kv/put", self._put_request(Put(key, value, lease)))
        revision = _revision(response)
        self._settle(revision)
        prev = response.get("prev_kv")
        return PutResult(revision=revision, prev_kv=_kv(prev) if prev else None)

    def delete(self, key: str, *, prefix: bool = False) -> DeleteResult:
        response = self._call("/v3/kv/deleterange", {**_range(key, prefix), "prev_kv": True})
        revision = _revision(response)
        self._settle(revision)
        return DeleteResult(revision=revision, deleted=[_kv(kv) for kv in response.get("prev_kvs", ())])

    @staticmethod
    def _put_request(op: Put) -> dict[str, Any]:
        request: dict[str, Any] = {"key": _b64(_key(op.key)), "value": _b64(op.value), "prev_kv": True}
        if op.lease:
            request["lease"] = op.lease
        return request

    def _op(self, op: Op) -> dict[str, Any]:
        if isinstance(op, Put):
            return {"request_put": self._put_request(op)}
        if isinstance(op, Delete):
            return {"request_delete_range": {**_range(op.key, op.prefix), "prev_kv": True}}
        request: dict[str, Any] = _range(op.key, op.prefix)
        if op.limit:
            request["limit"] = op.limit
        return {"request_range": request}

    def txn(self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()) -> TxnResult:
        compares = []
        for c in compare:
            field = c.target
            value = _b64(c.value) if isinstance(c.value, bytes) else c.value
            compares.append({"key": _b64(_key(c.key)), "target": _TARGETS[field], "result": _RESULTS[c.op],
                             field: value})
        response = self._call("/v3/kv/txn", {"compare": compares, "success": [self._op(op) for op in success],
                                             "failure": [self._op(op) for op in failure]})
        revision = _revision(response)
        self._settle(revision)
        succeeded = bool(response.get("succeeded", False))
        responses: list[PutResult | DeleteResult | RangeResult] = []
        for op, answer in zip(success if succeeded else failure, response.get("responses", ()), strict=True):
            if isinstance(op, Put):
                prev = answer["response_put"].get("prev_kv")
                responses.append(PutResult(revision=revision, prev_kv=_kv(prev) if prev else None))
            elif isinstance(op, Delete):
                prevs = answer["response_delete_range"].get("prev_kvs", ())
                responses.append(DeleteResult(revision=revision, deleted=[_kv(kv) for kv in prevs]))
            else:
                responses.append(self._range_result(answer["response_range"], revision))
        return TxnResult(succeeded=succeeded, revision=revision, responses=responses)

    def compact(self, revision: int) -> None:
        self._call("/v3/kv/compaction", {"revision": revision, "physical": True}, revision=revision)
        self._compact_rev = max(self._compact_rev, revision)

    # --- watch ------------------------------------------------------------------------------------

    def _run_watch(self) -> None:
        """The store's one etcd watch (every key, with previous values), fanned out to its watchers.
        A broken connection is watched again from the next revision, until the store closes."""
        backoff = 0.1
        while not self._closed:
            request = {"create_request": {"key": _ALL, "range_end": _ALL, "start_revision": self._seen + 1,
                                          "prev_kv": True}}
            try:
                self._stream = self._gateway.stream("/v3/watch", request)
                if self._closed:
                    self._stream.close()
                    return
                for message in self._stream.messages():
                    if message.get("created"):
                        self._created.set()
                        backoff = 0.1
                    if message.get("canceled"):
                        raise StoreError(f"etcd cancelled the store's watch (compacted at "
                                         f"{message.get('compact_revision', '?')}): events were lost")
                    if message.get("events"):
                        self._fan_out([_event(e) for e in message["events"]])
                if self._closed:
                    return
                _log.warning("etcd ended the store's watch; watching again from revision %d", self._seen + 1)
            except (StoreError, OSError, ValueError) as e:
                if self._closed:
                    return
                if isinstance(e, StoreError) and "events were lost" in str(e):
                    self._fail(str(e))
                    return
                if not self._created.is_set() and backoff > 1:
                    self._fail(str(e))
                    return
                _log.warning("etcd's watch failed (%s); watching again from revision %d", e, self._seen + 1)
            time.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _fan_out(self, events: list[Event]) -> None:
        """Deliver one response's events, revision by revision, then record the last revision."""
        with self._delivered:
            for revision, group in itertools.groupby(events, key=lambda e: e.kv.mod_revision):
                if revision > self._seen:
                    self._watchers.notify(list(group))
                    self._seen = revision
            self._delivered.notify_all()

    def _fail(self, why: str) -> None:
        _log.error("the etcd store's watch stopped: %s", why)
        with self._delivered:
            self._broken = why
            self._delivered.notify_all()
        self._created.set()

    def watch(self, key: str, callback: WatchCallback, *, prefix: bool = False, start_revision: int = 0) -> WatchHandle:
        if self._closed:
            raise StoreError("the store is closed")
        with self._lock:
            seen = self._seen
            if not start_revision or start_revision > seen:
                watcher = Watcher(self._watchers, key, prefix, callback, start_revision or seen + 1)
                self._watchers.add(watcher)
                return watcher
            replaying = _Replaying(self._watchers, key, prefix, callback, start_revision)
            self._watchers.add(replaying)  # what comes after ``seen`` waits in its buffer
        try:
            history = self._history(key, prefix, start_revision, seen)
            for _, group in itertools.groupby(history, key=lambda e: e.kv.mod_revision):
                callback(list(group))
        except BaseException:
            replaying.cancel()
            raise
        with self._lock:
            replaying.go_live()
        return replaying

    def _history(self, key: str, prefix: bool, start: int, until: int) -> list[Event]:
        """The events for ``key`` (or prefix) from ``start`` to ``until``, from a watch of etcd's own."""
        if start == until and not self._has_events_at(until):
            return []
        stream = self._gateway.stream("/v3/watch", {"create_request": {
            "key": _ALL, "range_end": _ALL, "start_revision": start, "prev_kv": True}})
        events: list[Event] = []
        timer = threading.Timer(SETTLE_TIMEOUT, stream.close)
        timer.start()
        try:
            for message in stream.messages():
                if message.get("canceled"):
                    compacted = int(message.get("compact_revision", 0))
                    if compacted:
                        self._compact_rev = max(self._compact_rev, compacted)
                        raise Compacted(start, compacted)
                    raise StoreError(f"etcd cancelled a watch: {message.get('cancel_reason', '')}")
                for doc in message.get("events", ()):
                    event = _event(doc)
                    if event.kv.mod_revision > until:
                        return events
                    if key_matches(event.kv.key, key, prefix):
                        events.append(event)
                    if event.kv.mod_revision == until and doc is message["events"][-1]:
                        return events
            raise StoreError(f"etcd ended the history watch before revision {until}")
        except (OSError, ValueError) as e:
            raise StoreError(f"reading etcd's history from revision {start} failed: {e}") from e
        finally:
            timer.cancel()
            stream.close()

    def _has_events_at(self, revision: int) -> bool:
        """Whether etcd still has events of ``revision``: raises Compacted below the compacted revision.
        Its puts show in a range at it; its deletes only if it was not compacted itself (etcd drops
        the tombstones at the compacted revision)."""
        puts = self._call("/v3/kv/range", {"key": _ALL, "range_end": _ALL, "count_only": True, "revision": revision,
                                           "min_mod_revision": revision}, revision=revision)
        if int(puts.get("count", 0)) or revision <= 1:
            return bool(int(puts.get("count", 0)))
        try:
            self._call("/v3/kv/range", {"key": _ALL, "count_only": True, "revision": revision - 1},
                       revision=revision - 1)
        except Compacted:
            return False
        return True

    # --- leases -----------------------------------------------------------------------------------

    def lease_grant(self, ttl: float) -> int:
        if ttl <= 0:
            raise ValueError(f"lease TTL must be positive, got {ttl}")
        response = self._call("/v3/lease/grant", {"TTL": math.ceil(ttl)})
        if response.get("error"):
            raise StoreError(response["error"])
        return int(response["ID"])

    def lease_keepalive(self, lease: int) -> float:
        # LeaseKeepAlive is a stream: the gateway sends this one request and answers {"result": ...}
        response = self._call("/v3/lease/keepalive", {"ID": lease}).get("result", {})
        ttl = int(response.get("TTL", 0))
        if ttl <= 0:  # etcd answers a keep-alive of an unknown (or expired) lease with TTL 0
            raise LeaseNotFound(f"lease {lease} not found")
        return float(ttl)

    def lease_revoke(self, lease: int) -> None:
        self._settle(_revision(self._call("/v3/lease/revoke", {"ID": lease})))

    def lease_time_to_live(self, lease: int) -> tuple[float, list[str]]:
        response = self._call("/v3/lease/timetolive", {"ID": lease, "keys": True})
        ttl = int(response.get("TTL", -1))
        if ttl < 0:
            raise LeaseNotFound(f"lease {lease} not found")
        keys = sorted(base64.b64decode(k).decode("utf-8", "surrogateescape") for k in response.get("keys", ()))
        return float(ttl), keys

    def expire_leases(self) -> int:
        """etcd's lessor revokes expired leases itself (every 500 ms); nothing to do here."""
        return 0

    def check(self, timeout: float = 2.0) -> str:
        """kube-apiserver's ``etcd`` check (``--etcd-healthcheck-timeout`` 2 s): a linearizable read of the
        key ``health``, which needs the member to reach a quorum; on a connection of its own."""
        if self._closed:
            return "the store is closed"
        probe = Gateway(self.endpoints, self._context, timeout=timeout)
        try:
            probe.call("/v3/kv/range", _range("health", False))
            return ""
        except StoreError as e:
            return str(e) or type(e).__name__
        except OSError as e:
            return f"{type(e).__name__}: {e}"
        finally:
            probe.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._delivered:
            self._delivered.notify_all()
        if self._stream is not None:
            self._stream.close()
        if self._reader.is_alive() and threading.current_thread() is not self._reader:
            self._reader.join(5)
        self._gateway.close()


def open_etcd(spec: str) -> EtcdStore:
    """An :class:`EtcdStore` from ``etcd://HOST:PORT[,HOST:PORT...][?cacert=F&cert=F&key=F]``; the TLS
    files default to ``$LABKIT_ETCD_CACERT``, ``$LABKIT_ETCD_CERT`` and ``$LABKIT_ETCD_KEY``."""
    parsed = urllib.parse.urlsplit(spec)
    if parsed.scheme != "etcd" or not parsed.netloc:
        raise ValueError(f"not an etcd store: {spec!r}: expected etcd://HOST:PORT[,HOST:PORT...]")
    query = dict(urllib.parse.parse_qsl(parsed.query))
    unknown = set(query) - set(TLS_ENV)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(sorted(unknown))} in {spec!r}: use cacert, cert, key")
    tls = {name: query.get(name) or os.environ.get(env) or None for name, env in TLS_ENV.items()}
    return EtcdStore(parsed.netloc.split(","), ca_file=tls["cacert"], cert_file=tls["cert"], key_file=tls["key"])
