"""The ``labkit`` command: ``labkit up`` runs a cluster in the foreground for kubectl users.

Contract (other tools rely on it): ``labkit up [--nodes N] [--runtime sim|process|docker]
[--store memory|sqlite:PATH|etcd|etcd://HOST:PORT] [--control-planes N [--load-balancer haproxy|built-in]]
[--kubeconfig FILE]`` writes the kubeconfig to
FILE, prints one line saying the cluster is ready and how to use it, then one saying which runtime
and network it chose and why (``runtime: ...``), on an etcd store one saying which etcd, which
version and where (``etcd: ...``), serves ``/readyz`` = ``ok`` once every component is up,
with several control planes one saying which load balancer serves their endpoint (``load balancer: ...``),
and on SIGINT or SIGTERM stops cleanly, leaving nothing behind.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from labkit.apiserver.server import AUTHORIZATION_MODES
from labkit.cluster import RUNTIMES, Cluster
from labkit.store import StoreError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labkit", description="A Kubernetes mini-cluster for learning.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run a cluster in the foreground until Ctrl-C")
    up.add_argument("--nodes", type=int, default=1, help="number of nodes (default 1)")
    up.add_argument("--runtime", choices=RUNTIMES, default=None, help="container runtime of the nodes")
    up.add_argument("--store", default="memory",
                    help="memory (default), sqlite:PATH, etcd (a member of the cluster's own) or etcd://HOST:PORT")
    up.add_argument("--kubeconfig", type=Path, default=Path("labkit.kubeconfig"),
                    help="where to write the kubeconfig (default ./labkit.kubeconfig)")
    up.add_argument("--port", type=int, default=0, help="API server port (default: a free one)")
    up.add_argument("--control-planes", type=int, default=1,
                    help="control-plane members (default 1); more run kubeadm's HA topology on an etcd cluster")
    up.add_argument("--load-balancer", choices=("haproxy", "built-in"), default=None,
                    help="in front of several API servers (default: haproxy when installed)")
    up.add_argument("--seed", type=int, default=None, help="seed for reproducible names and uids")
    up.add_argument("--authorization-mode", choices=AUTHORIZATION_MODES, default="RBAC",
                    help="as kube-apiserver's flag: RBAC (default) or AlwaysAllow")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        cluster = Cluster(nodes=args.nodes, runtime=args.runtime, store=args.store, seed=args.seed,
                          kubeconfig=args.kubeconfig.resolve(), port=args.port, set_kubeconfig_env=False,
                          authorization=args.authorization_mode, control_planes=args.control_planes,
                          load_balancer=args.load_balancer).start(announce=False)
    except (ValueError, OSError, StoreError) as e:
        print(f"labkit: {e}", file=sys.stderr)
        return 1
    try:
        print(f"labkit cluster ready at {cluster.url} ({args.nodes} node(s), {cluster.runtime} runtime): "
              f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
        print(f"runtime: {cluster.path}", flush=True)
        if cluster.etcd_description:
            print(cluster.etcd_description, flush=True)
        if cluster.load_balancer is not None:
            print(f"load balancer: {cluster.load_balancer.describe()}", flush=True)
        stop.wait()
    finally:
        cluster.stop()
        print("labkit cluster stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
