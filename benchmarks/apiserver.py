"""How fast labkit's API server answers the official ``kubernetes`` client. Not a test; run it and
read the numbers (the last table puts each figure next to its goal):

    .venv/bin/python benchmarks/apiserver.py [--quick]   (from the repository root)

1. control plane ready: ``Cluster(...).start()`` call to return, and to the first ``/readyz`` ok
   (median of 5 starts, memory store);
2. single-object writes (create, then strategic-merge patch, of configmaps) paced at a steady rate
   by a scheduler loop, memory and SQLite stores;
3. listing 1000 pods: the client's ``list_namespaced_pod`` (with deserialization), the raw HTTP
   exchange (``_preload_content=False``), and the Table form ``kubectl get`` asks for;
4. watch fan-out: 100 raw HTTP watches on one namespace while configmaps are created at a steady
   rate; latency of each (watcher, event) pair from just before the write request.

The cluster and the writing client share this process, as they do in a notebook. The watchers run
in a separate process (their own core and event loop), so reading 100 streams does not compete with
the server for the GIL; receive times use ``time.monotonic()``, which is one clock for all processes
on Linux.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import gc
import json
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import signal
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml
from kubernetes import client, config

from labkit import Cluster
from labkit.trace import Record, RequestRecord, WatchEventRecord

TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")  # what kubectl get sends


@dataclasses.dataclass(frozen=True)
class Settings:
    starts: int = 5
    write_rate: float = 100.0
    write_seconds: float = 10.0
    pods: int = 1000
    list_repeats: int = 20
    watchers: int = 100
    watch_objects: int = 200
    watch_rate: float = 20.0


QUICK = Settings(starts=3, write_seconds=2.0, pods=300, list_repeats=5, watchers=20, watch_objects=40)


# --- figures -------------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def ms(values: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / p99 / max of durations in seconds, as milliseconds."""
    return {"p50": percentile(values, 50) * 1e3, "p90": percentile(values, 90) * 1e3,
            "p99": percentile(values, 99) * 1e3, "max": max(values) * 1e3}


def line(label: str, figures: dict[str, float]) -> None:
    print(f"  {label:<36}" + "".join(f"{k} {v:8.2f}  " for k, v in figures.items()))


class GCPauses:
    """The garbage collector's pauses in this process (the server's thread included) while active."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self._started)

    def __enter__(self) -> GCPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def report(self) -> None:
        young, full = self.pauses[0] + self.pauses[1], self.pauses[2]
        print(f"  {'gc pauses':<36}gen0/1 {len(young)}x, {sum(young) * 1e3:.0f} ms in all; "
              f"gen2 {len(full)}x" + (f", max {max(full) * 1e3:.1f} ms" if full else ""))


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# --- credentials ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Credentials:
    """The server URL and the admin's CA, certificate and key, as files (for requests and aiohttp)."""

    server: str
    ca: str
    cert: str
    key: str

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path, directory: Path) -> Credentials:
        doc = yaml.safe_load(kubeconfig.read_text())
        cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
        files = {}
        for name, data in (("ca", cluster["certificate-authority-data"]), ("cert", user["client-certificate-data"]),
                           ("key", user["client-key-data"])):
            path = directory / f"bench-{name}.pem"
            path.write_bytes(base64.b64decode(data))
            files[name] = str(path)
        return cls(server=cluster["server"], **files)

    def session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment replaces our CA
        s.verify, s.cert = self.ca, (self.cert, self.key)
        return s

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


#: API-level figures use simulated nodes: pods "run" without containers, so the figures are the control
#: plane's, not Docker's (start with LABKIT_RUNTIME=docker to time a docker cluster's start instead)
RUNTIME = os.environ.get("LABKIT_RUNTIME", "sim")


@contextmanager
def cluster(store: str = "memory", nodes: int = 1) -> Iterator[tuple[Cluster, client.CoreV1Api, Credentials]]:
    """A started cluster, a CoreV1Api on its kubeconfig and its credentials; stopped on any exit."""
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp, \
            Cluster(nodes=nodes, runtime=RUNTIME, store=store.replace("{tmp}", tmp)) as c:
        assert c.kubeconfig is not None
        api = client.CoreV1Api(config.new_client_from_config(str(c.kubeconfig)))
        try:
            yield c, api, Credentials.from_kubeconfig(c.kubeconfig, Path(tmp))
        finally:
            api.api_client.close()


def make_namespace(api: client.CoreV1Api, name: str) -> None:
    api.create_namespace({"metadata": {"name": name}})


# --- 1. control plane ready ----------------------------------------------------------------------

def bench_ready(s: Settings) -> dict[int, dict[str, float]]:
    print("1. control plane ready (memory store)")
    results = {}
    for nodes in (1, 3):
        returned, ready = [], []
        for _ in range(s.starts):
            t0 = time.perf_counter()
            c = Cluster(nodes=nodes, runtime=RUNTIME)
            try:
                c.start()
                returned.append(time.perf_counter() - t0)
                with tempfile.TemporaryDirectory() as tmp:
                    assert c.kubeconfig is not None
                    creds = Credentials.from_kubeconfig(c.kubeconfig, Path(tmp))
                    with creds.session() as http:
                        answer = http.get(f"{creds.server}/readyz", timeout=10)
                ready.append(time.perf_counter() - t0)
                if answer.text != "ok":
                    print(f"  /readyz answered {answer.status_code} {answer.text!r}")
            finally:
                c.stop()
        results[nodes] = {"start() returned": statistics.median(returned) * 1e3,
                          "/readyz ok": statistics.median(ready) * 1e3}
        line(f"nodes={nodes} median of {s.starts} (ms)", results[nodes])
    return results


# --- 2. paced single-object writes ---------------------------------------------------------------

def last_seq(c: Cluster) -> int:
    records = c.trace.records()
    return records[-1].seq if records else 0


def server_latencies(c: Cluster, verb: str, resource: str, since: int) -> list[float]:
    """Server-side handler time (s) of matching requests recorded in the cluster's trace: from the
    request's arrival to its response being built, before the body is sent."""
    return [r.latency_ms / 1e3 for r in c.trace.records(since=since)
            if isinstance(r, RequestRecord) and r.verb == verb and r.resource == resource]


def paced(op: Callable[[int], object], *, rate: float, seconds: float) -> dict[str, float]:
    """Run ``op(i)`` at ``rate``/s for ``seconds``: each call starts at its due time, or at once if late.
    ``sched p99`` counts from the due time, so a slow server cannot hide behind a late schedule."""
    n = int(rate * seconds)
    service, from_due = [], []
    start = time.monotonic()
    for i in range(n):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t0 = time.monotonic()
        op(i)
        t1 = time.monotonic()
        service.append(t1 - t0)
        from_due.append(t1 - due)
    elapsed = time.monotonic() - start
    return {**ms(service), "sched p99": percentile(from_due, 99) * 1e3, "rate": n / elapsed}


def bench_writes(s: Settings) -> dict[str, dict[str, float]]:
    print(f"2. single-object writes at {s.write_rate:.0f}/s for {s.write_seconds:.0f} s (ms, rate in writes/s)")
    results = {}
    for store in ("memory", "sqlite:{tmp}/bench.db"):
        label = store.split(":")[0]
        with cluster(store) as (c, api, _creds), GCPauses() as pauses:
            make_namespace(api, "writes")
            ops: dict[str, Callable[[int], object]] = {
                "create": lambda i: api.create_namespaced_config_map(
                    "writes", {"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}}),
                "patch": lambda i: api.patch_namespaced_config_map(f"cm-{i % 50}", "writes", {"data": {"i": f"p{i}"}}),
            }
            for verb, op in ops.items():
                since = last_seq(c)
                results[f"{label} {verb}"] = paced(op, rate=s.write_rate, seconds=s.write_seconds)
                line(f"{label} {verb} configmap", results[f"{label} {verb}"])
                server = ms(server_latencies(c, verb, "configmaps", since))
                line("  of which server handler (trace)", {k: server[k] for k in ("p50", "p99", "max")})
        pauses.report()
    return results


# --- 3. list 1000 pods ---------------------------------------------------------------------------

def pod(i: int) -> dict[str, Any]:
    return {"metadata": {"name": f"pod-{i:05d}", "labels": {"app": "bench", "shard": str(i % 10)}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                     "ports": [{"containerPort": 80}],
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def bench_list(s: Settings) -> dict[str, dict[str, float]]:
    print(f"3. list {s.pods} pods, {s.list_repeats} times each (ms)")
    ns = "list"
    results = {}
    with cluster() as (c, api, creds), GCPauses() as pauses:
        make_namespace(api, ns)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: api.create_namespaced_pod(ns, pod(i)), range(s.pods)))
        print(f"  created {s.pods} pods with 8 threads in {time.perf_counter() - t0:.2f} s")
        api.list_namespaced_pod(ns)  # warm the connection
        since = last_seq(c)
        results["client list_namespaced_pod"] = ms(timed(lambda: api.list_namespaced_pod(ns), s.list_repeats))
        results["raw HTTP (_preload_content=False)"] = ms(timed(
            lambda: api.list_namespaced_pod(ns, _preload_content=False).data, s.list_repeats))
        results["server handler (trace)"] = ms(server_latencies(c, "list", "pods", since))
        url = f"{creds.server}/api/v1/namespaces/{ns}/pods"
        with creds.session() as http:
            http.get(url, headers={"Accept": TABLE_ACCEPT}).raise_for_status()
            results["Table via requests"] = ms(timed(
                lambda: http.get(url, headers={"Accept": TABLE_ACCEPT}).content, s.list_repeats))

            def kubectl_pages() -> float:
                """The HTTP time of ``kubectl get``'s pages (limit=500, then continue); the client's
                JSON decoding, needed for the continue token, is not counted."""
                elapsed, cont = 0.0, ""
                while True:
                    t0 = time.perf_counter()
                    body = http.get(url, params={"limit": 500, **({"continue": cont} if cont else {})},
                                    headers={"Accept": TABLE_ACCEPT}).content
                    elapsed += time.perf_counter() - t0
                    cont = json.loads(body)["metadata"].get("continue", "")
                    if not cont:
                        return elapsed
            results["Table limit=500 pages (kubectl)"] = ms([kubectl_pages() for _ in range(s.list_repeats)])
            size = len(http.get(url).content)
        for label, figures in results.items():
            line(label, {k: figures[k] for k in ("p50", "p90", "max")})
        print(f"  JSON list body: {size / 1e6:.2f} MB")
    pauses.report()
    return results


# --- 4. watch fan-out ----------------------------------------------------------------------------

async def _watchers(creds: Credentials, url: str, count: int, expected: int, deadline: float,
                    conn: mpc.Connection) -> list[list[tuple[str, float]]]:
    import aiohttp  # only the watcher process needs it

    received: list[list[tuple[str, float]]] = [[] for _ in range(count)]
    opened = 0
    all_open = asyncio.Event()

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal opened
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
            resp.raise_for_status()
            opened += 1  # headers arrive only once the server has registered the store watch
            if opened == count:
                all_open.set()
            async for raw in resp.content:
                t = time.monotonic()
                event = json.loads(raw)
                if event["type"] == "ADDED":
                    received[index].append((event["object"]["metadata"]["name"], t))
                    if len(received[index]) == expected:
                        return

    connector = aiohttp.TCPConnector(ssl=creds.ssl_context(), limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(one(session, i)) for i in range(count)]
        await asyncio.wait_for(all_open.wait(), timeout=60)
        conn.send("ready")
        _done, pending = await asyncio.wait(tasks, timeout=max(1.0, deadline - time.monotonic()))
        for task in pending:
            task.cancel()
    return received


def watcher_process(creds: Credentials, url: str, count: int, expected: int, seconds: float,
                    conn: mpc.Connection) -> None:
    """Entry point of the watcher process: open ``count`` watches, report when all are open, then
    send back each watcher's ``(name, receive time)`` list."""
    try:
        deadline = time.monotonic() + 60 + seconds
        conn.send(asyncio.run(_watchers(creds, url, count, expected, deadline, conn)))
    except KeyboardInterrupt:
        pass


def bench_watch(s: Settings) -> dict[str, float]:
    print(f"4. watch fan-out: {s.watchers} watchers (separate process), {s.watch_objects} creates at "
          f"{s.watch_rate:.0f}/s (ms)")
    ns = "watch"
    with cluster() as (c, api, creds), GCPauses() as pauses:
        make_namespace(api, ns)
        rv = api.list_namespaced_config_map(ns).metadata.resource_version
        url = f"{creds.server}/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}"
        parent, child = mp.get_context("spawn").Pipe()
        proc = mp.get_context("spawn").Process(
            target=watcher_process, daemon=True,
            args=(creds, url, s.watchers, s.watch_objects, s.watch_objects / s.watch_rate, child))
        proc.start()
        records: list[Record] = []
        unsubscribe = c.trace.subscribe(records.append)  # the server's own timestamps, for the breakdown
        try:
            if not parent.poll(90) or parent.recv() != "ready":
                raise RuntimeError("the watchers did not open their streams")
            sent: dict[str, float] = {}

            def create(i: int) -> None:
                name = f"w-{i:04d}"
                sent[name] = time.monotonic()
                api.create_namespaced_config_map(ns, {"metadata": {"name": name}})

            cpu = c.run(server_thread_cpu())
            write = paced(create, rate=s.watch_rate, seconds=s.watch_objects / s.watch_rate)
            cpu = c.run(server_thread_cpu()) - cpu
            if not parent.poll(90):
                raise RuntimeError("the watchers did not report")
            received: list[list[tuple[str, float]]] = parent.recv()
        finally:
            unsubscribe()
            if proc.is_alive():
                proc.terminate()
            proc.join(10)
    by_event: dict[str, list[float]] = {}
    for per_watcher in received:
        for name, t in per_watcher:
            by_event.setdefault(name, []).append(t - sent[name])
    latencies = [latency for per_event in by_event.values() for latency in per_event]
    result = {**ms(latencies), "write p99": write["p99"]}
    line("event latency over (watcher, event)", result)
    if missing := s.watchers * s.watch_objects - len(latencies):
        print(f"  {missing} of {s.watchers * s.watch_objects} events never arrived")
    print_breakdown(records, sent, by_event)
    per_event = cpu / s.watch_objects
    print(f"  {'server CPU per create + fan-out':<36}{per_event * 1e3:.2f} ms "
          f"({per_event / s.watchers * 1e6:.0f} us per watcher; less sensitive to other load than latency)")
    pauses.report()
    return result


async def server_thread_cpu() -> float:
    """CPU time of the cluster's thread (run on its loop)."""
    return time.thread_time()


def print_breakdown(records: list[Record], sent: dict[str, float], by_event: dict[str, list[float]]) -> None:
    """Where an event's time goes: p50 and p99 over events of each milestone, in ms after the write
    request started. Server milestones come from the cluster's trace (a watch event is traced once written)."""
    arrived: dict[str, float] = {}
    handled: dict[str, float] = {}
    written: dict[str, list[float]] = {}
    for r in records:
        if isinstance(r, RequestRecord) and r.verb == "create" and r.name in sent:
            arrived[r.name], handled[r.name] = r.t - sent[r.name], r.t + r.latency_ms / 1e3 - sent[r.name]
        elif isinstance(r, WatchEventRecord) and r.type == "ADDED" and r.name in sent:
            written.setdefault(r.name, []).append(r.t - sent[r.name])
    milestones = {
        "request reached the server": list(arrived.values()),
        "create handled (response built)": list(handled.values()),
        "first watcher's event written": [min(v) for v in written.values()],
        "last watcher's event written": [max(v) for v in written.values()],
        "first watcher received it": [min(v) for v in by_event.values()],
        "last watcher received it": [max(v) for v in by_event.values()],
    }
    print("  where the time goes (ms after the write request started, over events):")
    for label, values in milestones.items():
        if values:
            line(f"  {label}", {k: v for k, v in ms(values).items() if k in ("p50", "p99")})


# --- summary -------------------------------------------------------------------------------------

def summary(ready: dict[int, dict[str, float]], writes: dict[str, dict[str, float]],
            lists: dict[str, dict[str, float]], watch: dict[str, float], s: Settings) -> None:
    rows = [(f"ready, nodes={n} (median /readyz ok)", ready[n]["/readyz ok"], 1000.0) for n in ready]
    rows += [(f"write p99 @{s.write_rate:.0f}/s, {k}", v["p99"], 20.0) for k, v in writes.items()]
    rows += [(f"list {s.pods} pods p50, {k}", v["p50"], 100.0) for k, v in lists.items()
             if k != "server handler (trace)"]
    rows.append((f"watch event p99, {s.watchers} watchers", watch["p99"], 10.0))
    print("\nsummary (ms)")
    print(f"  {'figure':<52}{'measured':>10}{'goal':>10}  met")
    for label, value, goal in rows:
        print(f"  {label:<52}{value:>10.1f}{'<= ' + format(goal, 'g'):>10}  {'yes' if value <= goal else 'NO'}")
    print("  (the list goal is about the server: compare 'raw HTTP'; the client's model building is its own cost)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts: a smoke run in under ~30 s")
    s = QUICK if parser.parse_args().quick else Settings()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill cleans up as Ctrl-C does
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (other work on the machine adds noise)")
    try:
        ready = bench_ready(s)
        writes = bench_writes(s)
        lists = bench_list(s)
        watch = bench_watch(s)
    except KeyboardInterrupt:
        print("\ninterrupted; the cluster was stopped")
        raise SystemExit(130) from None
    summary(ready, writes, lists, watch, s)


if __name__ == "__main__":
    main()
