"""SQLite only: the file survives closing and reopening (data, history, compaction, leases)."""

from __future__ import annotations

import pathlib
import signal
import sqlite3
import subprocess
import sys

import pytest

from labkit.store import Compacted, KeyValue, LeaseNotFound
from labkit.store.sqlite import SQLiteStore

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_reopen_keeps_revision_history_and_compaction(tmp_path, recorder) -> None:
    path = str(tmp_path / "etcd.db")
    store = SQLiteStore(path)
    store.put("/p/a", b"1")  # 2
    store.put("/p/b", b"1")  # 3
    store.put("/p/a", b"2")  # 4
    store.compact(3)
    store.delete("/p/b")     # 5
    store.close()

    store = SQLiteStore(path)
    try:
        assert (store.revision, store.compact_revision) == (5, 3)
        assert store.range("/p/", prefix=True).kvs == [KeyValue("/p/a", b"2", 2, 4, 2)]
        assert [kv.key for kv in store.range("/p/", prefix=True, revision=4).kvs] == ["/p/a", "/p/b"]
        with pytest.raises(Compacted):
            store.range("/p/a", revision=2)
        rec = recorder()
        store.watch("/p/", rec, prefix=True, start_revision=4)
        assert rec.summary() == [("PUT", "/p/a", 4), ("DELETE", "/p/b", 5)]
        assert store.put("/p/a", b"3").revision == 6
    finally:
        store.close()


def test_revision_survives_compacting_everything_away(tmp_path) -> None:
    path = str(tmp_path / "etcd.db")
    store = SQLiteStore(path)
    store.put("/a", b"1")
    store.delete("/a")
    store.compact(3)  # no rows left at all
    store.close()
    store = SQLiteStore(path)
    try:
        assert (store.revision, store.compact_revision) == (3, 3)
        assert store.put("/a", b"2").revision == 4
    finally:
        store.close()


def test_reopen_restores_leases_with_their_keys(tmp_path) -> None:
    path = str(tmp_path / "etcd.db")
    store = SQLiteStore(path)
    held = store.lease_grant(60)
    revoked = store.lease_grant(60)
    store.put("/held", b"1", lease=held)
    store.lease_revoke(revoked)
    store.close()

    store = SQLiteStore(path)
    try:
        remaining, keys = store.lease_time_to_live(held)
        assert keys == ["/held"] and remaining > 59  # a restart gives the lease a fresh TTL
        with pytest.raises(LeaseNotFound):
            store.lease_time_to_live(revoked)
        assert store.lease_grant(60) not in (held, revoked)  # ids are never reused
        store.lease_revoke(held)
        assert store.range("/held").kvs == []
    finally:
        store.close()


def test_file_is_in_wal_mode(tmp_path) -> None:
    path = str(tmp_path / "etcd.db")
    store = SQLiteStore(path)
    store.put("/a", b"1")
    try:
        other = sqlite3.connect(path)
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        # a second reader sees the acknowledged write without the store closing
        assert other.execute("SELECT count(*) FROM kv").fetchone() == (1,)
        other.close()
    finally:
        store.close()


def test_acknowledged_writes_survive_a_process_crash(tmp_path) -> None:
    path = str(tmp_path / "etcd.db")
    script = (
        "import os, signal, sys\n"
        "from labkit.store.sqlite import SQLiteStore\n"
        "store = SQLiteStore(sys.argv[1])\n"
        "for i in range(50):\n"
        "    store.put(f'/k/{i}', b'v')\n"
        "os.kill(os.getpid(), signal.SIGKILL)  # no close(), no checkpoint\n"
    )
    crashed = subprocess.run([sys.executable, "-c", script, path], cwd=ROOT, check=False)
    assert crashed.returncode == -signal.SIGKILL
    store = SQLiteStore(path)
    try:
        assert store.revision == 51
        assert store.range("/k/", prefix=True).count == 50
    finally:
        store.close()
