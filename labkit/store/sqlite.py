"""A store in one SQLite file, laid out the way k3s' kine keeps etcd's data model in SQL.

Mirrors ``k3s-io/kine`` (``pkg/drivers/generic`` and ``pkg/logstructured``): one row per key
version, the newest row of a key at or below a revision is the key's value then, a ``deleted`` row
is a tombstone, and watch replay is a scan by revision. Differences from kine: the primary key is
etcd's ``(main, sub)`` revision, so a txn writing several keys gets *one* revision (kine gives each
row its own id); compaction is explicit (``compact``), not a background loop; leases are persisted.

Tables:

- ``kv(mod_revision, sub, key, create_revision, version, value, lease, deleted, prev_revision)``;
  index ``(key, mod_revision)`` answers "newest row of this key at or below revision r".
- ``meta(name, value)``: ``compact_revision``. The current revision is not stored: it is
  ``max(newest row, compact_revision, 1)``, because compaction never removes rows above it.
- ``lease(id, ttl)``: granted leases; on reopen each gets a fresh TTL (etcd does the same when a
  member restarts) and the keys whose newest row names it are attached again.

Durability: WAL with ``synchronous=NORMAL``. A commit is written to the WAL before ``put`` returns,
so it survives the *process* crashing; only an OS crash or power loss can drop the last commits
(``FULL`` would fsync every commit, as etcd does, at several times the cost).
The file holds every Secret and token of the cluster, so a new one is readable by its owner only
(etcd keeps its data directory at 0700); SQLite gives the ``-wal`` and ``-shm`` files the same mode.
Left out: several processes sharing the file (one connection, guarded by the store lock).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

from labkit.store import Event, KeyValue
from labkit.store._common import MVCCStore, prefix_end

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    mod_revision INTEGER NOT NULL,
    sub INTEGER NOT NULL,
    key TEXT NOT NULL,
    create_revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    value BLOB NOT NULL,
    lease INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    PRIMARY KEY (mod_revision, sub)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS kv_key_revision ON kv (key, mod_revision);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lease (id INTEGER PRIMARY KEY AUTOINCREMENT, ttl REAL NOT NULL);
"""

_KV = "{t}.key, {t}.value, {t}.create_revision, {t}.mod_revision, {t}.version, {t}.lease"


def _key_filter(column: str, key: str, prefix: bool) -> tuple[str, tuple[str, ...]]:
    """A SQL condition (and its parameters) selecting ``key`` or the keys under it."""
    if not prefix:
        return f"{column} = ?", (key,)
    end = prefix_end(key)
    if end is None:
        return f"{column} >= ?", (key,)
    return f"{column} >= ? AND {column} < ?", (key, end)


def _kv(row: Sequence) -> KeyValue:
    """A KeyValue from the six columns of ``_KV`` (positional: this runs once per row of a list)."""
    return KeyValue(row[0], row[1], row[2], row[3], row[4], row[5])


class SQLiteStore(MVCCStore):
    """A :class:`~labkit.store.Store` in the SQLite file at ``path``; reopening it resumes the
    revision, history, compaction and leases."""

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":  # create it private; an existing file keeps the mode its owner gave it
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.executescript(_SCHEMA)
        (compact_revision,) = self._db.execute(
            "SELECT coalesce((SELECT value FROM meta WHERE name = 'compact_revision'), 0)"
        ).fetchone()
        (newest,) = self._db.execute("SELECT coalesce(max(mod_revision), 0) FROM kv").fetchone()
        super().__init__(revision=max(newest, compact_revision, 1), compact_revision=compact_revision)
        with self._lock:
            rows = self._db.execute("SELECT id, ttl FROM lease").fetchall()
            leases = {lease_id: self._restore_lease(lease_id, ttl) for lease_id, ttl in rows}
            for kv in self._range_prefix("", self._rev)[0]:
                if kv.lease in leases:
                    leases[kv.lease].keys.add(kv.key)

    def _get(self, key: str, revision: int) -> KeyValue | None:
        row = self._db.execute(
            f"SELECT {_KV.format(t='kv')}, deleted FROM kv WHERE key = ? AND mod_revision <= ?"
            " ORDER BY mod_revision DESC LIMIT 1",
            (key, revision),
        ).fetchone()
        return _kv(row) if row and not row[6] else None

    def _range_prefix(self, prefix: str, revision: int, limit: int = 0) -> tuple[list[KeyValue], int]:
        where, params = _key_filter("key", prefix, True)
        rows = self._db.execute(
            f"SELECT {_KV.format(t='kv')}, count(*) OVER () FROM kv JOIN ("
            f"  SELECT key, max(mod_revision) AS newest FROM kv WHERE {where} AND mod_revision <= ? GROUP BY key"
            ") AS latest ON kv.key = latest.key AND kv.mod_revision = latest.newest"
            " WHERE NOT kv.deleted ORDER BY kv.key LIMIT ?",  # the window counts before LIMIT cuts
            (*params, revision, limit or -1),
        ).fetchall()
        return [_kv(row) for row in rows], rows[0][6] if rows else 0

    def _history(self, key: str, prefix: bool, start: int) -> list[Event]:
        where, params = _key_filter("k.key", key, prefix)
        rows = self._db.execute(
            f"SELECT {_KV.format(t='k')}, k.deleted, {_KV.format(t='p')} FROM kv AS k"
            " LEFT JOIN kv AS p ON p.key = k.key AND p.mod_revision = k.prev_revision"
            f" WHERE k.mod_revision >= ? AND {where} ORDER BY k.mod_revision, k.sub",
            (start, *params),
        )
        return [
            Event("DELETE" if row[6] else "PUT", _kv(row), _kv(row[7:]) if row[7] is not None else None)
            for row in rows
        ]

    def _write(self, revision: int, events: Sequence[Event]) -> None:
        rows = [
            (
                revision, sub, e.kv.key, e.kv.create_revision, e.kv.version, e.kv.value, e.kv.lease,
                e.type == "DELETE", e.prev_kv.mod_revision if e.prev_kv else 0,
            )
            for sub, e in enumerate(events)
        ]
        with self._db:
            self._db.executemany("INSERT INTO kv VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _compact(self, revision: int) -> None:
        with self._db:
            # Every tombstone at or below the revision goes, and every row older than its key's
            # newest row at or below it.
            self._db.execute(
                "DELETE FROM kv WHERE mod_revision <= :rev AND (deleted OR mod_revision < ("
                "  SELECT max(mod_revision) FROM kv AS newer WHERE newer.key = kv.key AND newer.mod_revision <= :rev))",
                {"rev": revision},
            )
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('compact_revision', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (revision,),
            )

    def _grant_lease(self, ttl: float) -> int:
        with self._db:
            cursor = self._db.execute("INSERT INTO lease (ttl) VALUES (?)", (ttl,))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _drop_lease(self, lease_id: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM lease WHERE id = ?", (lease_id,))

    def _close_backend(self) -> None:
        self._db.close()
