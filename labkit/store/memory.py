"""The in-memory store (the default): etcd's MVCC data model in Python lists and dicts.

Mirrors etcd's ``server/storage/mvcc``: ``index.go``/``key_index.go`` (per key, the list of its
versions, used to read a key at any revision) and the revision-ordered history that
``watchable_store.go`` replays to a watcher that starts in the past. Here that history is a list of
each revision's events instead of a bolt bucket keyed by revision.

Layout:

- ``_versions[key]``: the key's versions oldest first; a tombstone (delete) has ``version == 0``.
  Reading at the current revision looks at the last one only; an older revision bisects.
- ``_keys``: every key with versions, sorted, so a prefix range bisects to its first key and stops
  at the first key outside the prefix instead of scanning the store.
- ``_log``: the events of each revision from ``_log_base`` on, for watch replay.

Left out: persistence (use :class:`~labkit.store.sqlite.SQLiteStore`), etcd's memory quota.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Sequence

from labkit.store import Event, KeyValue
from labkit.store._common import MVCCStore, key_matches, prefix_end

_mod_revision = operator.attrgetter("mod_revision")


class MemoryStore(MVCCStore):
    """A :class:`~labkit.store.Store` kept in process memory."""

    def __init__(self) -> None:
        self._versions: dict[str, list[KeyValue]] = {}
        self._keys: list[str] = []
        self._log: list[Sequence[Event]] = []
        self._log_base = 2  # revision of _log[0]: the first write makes revision 2
        self._lease_ids = itertools.count(1)
        super().__init__(revision=1, compact_revision=0)

    def _get(self, key: str, revision: int) -> KeyValue | None:
        versions = self._versions.get(key)
        if not versions:
            return None
        kv = versions[-1]
        if kv.mod_revision > revision:
            i = bisect.bisect_right(versions, revision, key=_mod_revision)
            if i == 0:
                return None
            kv = versions[i - 1]
        return kv if kv.version else None

    def _range_prefix(self, prefix: str, revision: int, limit: int = 0) -> tuple[list[KeyValue], int]:
        end = prefix_end(prefix)
        lo = bisect.bisect_left(self._keys, prefix)
        hi = len(self._keys) if end is None else bisect.bisect_left(self._keys, end, lo)
        kvs = []
        for key in self._keys[lo:hi]:
            kv: KeyValue | None = self._versions[key][-1]
            if kv is not None and kv.mod_revision > revision:  # an old revision: bisect; the current one never does
                kv = self._get(key, revision)
            if kv and kv.version:
                kvs.append(kv)
        return (kvs[:limit] if limit else kvs), len(kvs)

    def _history(self, key: str, prefix: bool, start: int) -> list[Event]:
        return [
            event
            for events in self._log[max(0, start - self._log_base):]
            for event in events
            if key_matches(event.kv.key, key, prefix)
        ]

    def _write(self, revision: int, events: Sequence[Event]) -> None:
        for event in events:
            versions = self._versions.get(event.kv.key)
            if versions is None:
                self._versions[event.kv.key] = [event.kv]
                bisect.insort(self._keys, event.kv.key)
            else:
                versions.append(event.kv)
        self._log.append(events)

    def _compact(self, revision: int) -> None:
        for key in self._keys:
            versions = self._versions[key]
            at = bisect.bisect_right(versions, revision, key=_mod_revision)  # versions[:at] are <= revision
            # Keep the latest version at or below the revision, unless it is a tombstone.
            keep_from = at - 1 if at and versions[at - 1].version else at
            del versions[:keep_from]
            if not versions:
                del self._versions[key]
        self._keys = [key for key in self._keys if key in self._versions]
        if revision > self._log_base:
            del self._log[: revision - self._log_base]
            self._log_base = revision
        if self._log_base == revision and self._log:
            # What survives at the compacted revision itself: its puts, without their (gone) prev_kv.
            self._log[0] = [Event("PUT", e.kv) for e in self._log[0] if e.type == "PUT"]

    def _grant_lease(self, ttl: float) -> int:
        return next(self._lease_ids)

    def _drop_lease(self, lease_id: int) -> None:
        """Nothing to do: the lessor's table is the only record of a lease."""
