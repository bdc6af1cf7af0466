"""The ``labkit`` command: ``labkit up`` runs a cluster in the foreground for kubectl users.

Contract (other tools rely on it): ``labkit up [--nodes N] [--runtime sim|process|docker]
[--store memory|sqlite:PATH|etcd|etcd://HOST:PORT] [--control-planes N [--load-balancer haproxy|built-in]]
[--kubeconfig FILE]`` writes the kubeconfig to
FILE, prints one line saying the cluster is ready and how to use it, then one saying which runtime
and network it chose and why (``runtime: ...``), on an etcd store one saying which etcd, which
version and where (``etcd: ...``), serves ``/readyz`` = ``ok`` once every component is up,
with several control planes one saying which load balancer serves their endpoint (``load balancer: ...``),
and on SIGINT or SIGTERM stops cleanly, leaving nothing behind; a cluster that cannot start (a bad
argument, no haproxy for ``--load-balancer haproxy``) is one line ``labkit: ...`` on stderr and exit 1.

``labkit init --control-plane-endpoint HOST:PORT [--upload-certs] [--nodes N] [--runtime R]
[--kubeconfig FILE]`` (``kubeadm init``) runs in the foreground as ``labkit up`` does, on an etcd
store, with one control-plane member and the load balancer at HOST:PORT, whose backends are the
members to come at 127.0.0.1:PORT+1, +2, +3; it prints the ``labkit up`` lines, then kubeadm's
closing message with the control-plane join command (with ``--upload-certs``) and the worker one,
each on one line. ``labkit join HOST:PORT --token T --discovery-token-ca-cert-hash sha256:H
--control-plane --certificate-key K [--discovery-timeout S]`` (``kubeadm join``) joins a control-plane
member (an etcd member added as a learner and promoted, an API server at the next free slot, a
scheduler and a controller manager), prints kubeadm's phase lines and one line
``labkit: joined as NAME ...``, and stays in the foreground; on SIGINT or SIGTERM it leaves as
``kubeadm reset`` does (its etcd member removed). Without a hash it refuses to join unless given
``--discovery-token-unsafe-skip-ca-verification``. A refused join prints one line
``labkit join: error execution phase ...: <kubeadm's message>`` (or kubeadm's validation message) on
stderr, exits 1 and leaves nothing behind; SIGINT or SIGTERM while joining undoes the join, prints one
line ``labkit join: interrupted by SIG...`` and exits 128 + the signal's number.
``labkit join --config FILE`` takes all of these from a kubeadm JoinConfiguration instead
(:mod:`labkit.kubeadm.joinconfig`), which keeps the token and the certificate key out of ``ps``; a join
flag beside it is refused as kubeadm does (``labkit join: can not mix '--config' with arguments [...]``).
``labkit join HOST:PORT --token T --discovery-token-ca-cert-hash sha256:H [--node-name N]`` without
``--control-plane`` joins a worker: the kubelet's TLS bootstrap (a CSR approved and signed by the
controller manager), then a kubelet in this process (sim runtime); it prints kubeadm's phase lines and
closing message, then ``labkit: joined as node NAME ...``, and stays in the foreground; on SIGINT or
SIGTERM its kubelet stops (the Node object stays, as after ``kubeadm reset``).

``labkit doctor [--json]`` checks this machine for the course (:mod:`labkit.doctor`): one line per check
(ok, warn or BLOCKER, with the one command that fixes a miss), then what will work; exits 1 on a
blocker. ``labkit clean [--dry-run]`` removes (lists) what clusters whose process is gone left behind
(:mod:`labkit.clean`), one line each, and never touches a running cluster.

``labkit room [--learners N] [--runtime R] NOTEBOOK...`` rehearses a workshop on this machine
(:mod:`labkit.room`): N learners run the notebooks at once, each in a kernel of its own; one line per
learner, then how many passed; exit 1 unless all did.

``labkit progress`` prints, per notebook of the course, the exercises passed and the recap questions
answered right, from the learner's data directory (``labkit.labs.progress``), and where that is kept.

``labkit kit [DIR] [--python-version X.Y] [--platform TAG ...]`` (``make wheelhouse``) writes the offline
install kit (:mod:`labkit.kit`) to DIR (default ./labkit-kit), replacing a kit there; it prints a line per
part the kit goes without and why, then one ``kit: DIR (N MB, N wheels, ...)``; a kit it cannot build
(no source checkout, pip failing) is one line ``labkit kit: ...`` on stderr (pip's last lines after it)
and exit 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from labkit import bootstrap
from labkit.apiserver.server import AUTHORIZATION_MODES
from labkit.cluster import RUNTIMES, Cluster
from labkit.kubeadm import join as kubeadm_join
from labkit.kubeadm import joinconfig, joinworker
from labkit.kubeadm.init import init_phases
from labkit.network.loadbalancer import LoadBalancerError
from labkit.store import StoreError


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _interrupt_on_signals() -> list[signal.Signals]:
    """While a join runs, SIGINT is Python's (KeyboardInterrupt; within ``asyncio.run``, its main task
    cancelled first) and SIGTERM does what SIGINT does, as Ctrl-C stops kubeadm: the join undoes what
    it added. Returns the list the SIGTERMs received are added to."""
    received: list[signal.Signals] = []

    def as_sigint(_signum: int, frame: FrameType | None) -> None:
        received.append(signal.SIGTERM)
        handler = signal.getsignal(signal.SIGINT)  # asyncio.run's while one runs
        if callable(handler):
            handler(signal.SIGINT, frame)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, as_sigint)
    return received


def _add_kubeadm_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser("init", help="kubeadm init: the first control plane behind --control-plane-endpoint")
    init.add_argument("--control-plane-endpoint", required=True, metavar="HOST:PORT",
                      help="where the load balancer listens (its backends: PORT+1, +2, +3 on 127.0.0.1)")
    init.add_argument("--upload-certs", action="store_true",
                      help="store the shared CAs, encrypted, in the kubeadm-certs Secret for control-plane joins")
    init.add_argument("--nodes", type=int, default=1, help="number of nodes (default 1)")
    init.add_argument("--runtime", choices=RUNTIMES, default=None, help="container runtime of the nodes")
    init.add_argument("--kubeconfig", type=Path, default=Path("labkit.kubeconfig"),
                      help="where to write the kubeconfig (default ./labkit.kubeconfig)")
    join = sub.add_parser("join", help="kubeadm join: a worker node, or a control-plane member (--control-plane)")
    join.add_argument("endpoint", metavar="HOST:PORT", nargs="?", default="")
    join.add_argument("--config", type=Path, default=None,
                      help="a kubeadm JoinConfiguration (v1beta3 or v1beta4) in place of the flags: unlike them, "
                           "a 0600 file keeps the token and the certificate key from other accounts' ps")
    join.add_argument("--token", default="")
    join.add_argument("--discovery-token-ca-cert-hash", action="append", default=[], metavar="sha256:HEX")
    join.add_argument("--discovery-token-unsafe-skip-ca-verification", action="store_true",
                      help="join without --discovery-token-ca-cert-hash, trusting whichever CA answers")
    join.add_argument("--control-plane", action="store_true")
    join.add_argument("--certificate-key", default=None)
    join.add_argument("--node-name", default=None, help="a worker's Node name (default: the first free node-N)")
    join.add_argument("--runtime", choices=("sim",), default="sim",
                      help="a worker's container runtime: sim only (the others need the cluster's network plan)")
    join.add_argument("--discovery-timeout", type=float, default=bootstrap.DISCOVERY_TIMEOUT,
                      help="seconds to wait for the token's signature in cluster-info (kubeadm: 5 min)")


def _init(args: argparse.Namespace) -> int:
    stop = _stop_on_signals()
    try:
        cluster = Cluster(nodes=args.nodes, runtime=args.runtime, store="etcd", kubeconfig=args.kubeconfig.resolve(),
                          set_kubeconfig_env=False, control_plane_endpoint=args.control_plane_endpoint
                          ).start(announce=False)
    except (ValueError, OSError, StoreError, LoadBalancerError) as e:
        print(f"labkit: {e}", file=sys.stderr)
        return 1
    try:
        _announce(cluster, args.nodes)
        print(init_phases(cluster, args.control_plane_endpoint, upload_certs=args.upload_certs), flush=True)
        stop.wait()
    finally:
        cluster.stop()
        print("labkit cluster stopped", flush=True)
    return 0


def _join_settings(args: argparse.Namespace, argv: list[str]) -> None:
    """``--config``'s JoinConfiguration in place of the flags (none may stand beside it), else the
    flags as given; raises JoinConfigError."""
    if args.config is None:
        if not args.endpoint or not args.token:
            raise joinconfig.JoinConfigError("give the API server's HOST:PORT and --token, or --config FILE")
        return
    joinconfig.check_unmixed(argv)
    config = joinconfig.load(args.config)
    args.endpoint, args.token = config.endpoint, config.token
    args.discovery_token_ca_cert_hash = config.ca_cert_hashes
    args.discovery_token_unsafe_skip_ca_verification = config.unsafe_skip_ca_verification
    args.control_plane, args.certificate_key, args.node_name = (config.control_plane, config.certificate_key,
                                                                config.node_name)
    if config.discovery_timeout is not None:
        args.discovery_timeout = config.discovery_timeout


def _join(args: argparse.Namespace, argv: list[str]) -> int:
    try:
        _join_settings(args, argv)
    except joinconfig.JoinConfigError as e:
        print(f"labkit join: {e}", file=sys.stderr)
        return 1
    terminated = _interrupt_on_signals()
    try:
        bootstrap.validate_discovery(args.discovery_token_ca_cert_hash,
                                     args.discovery_token_unsafe_skip_ca_verification)
        if not args.control_plane:
            return _join_worker(args)
        if args.certificate_key is None:
            raise kubeadm_join.PhaseError("control-plane-prepare/download-certs", "labkit join --control-plane needs "
                                          "--certificate-key: labkit has no /etc/kubernetes/pki to copy the "
                                          "certificate authorities to (labkit init --upload-certs)")
        joined = kubeadm_join.join_control_plane(
            args.endpoint, args.token, args.discovery_token_ca_cert_hash, args.certificate_key,
            discovery_timeout=args.discovery_timeout,
            unsafe_skip_ca_verification=args.discovery_token_unsafe_skip_ca_verification,
            out=lambda line: print(line, flush=True))
    except (kubeadm_join.PhaseError, bootstrap.JoinError) as e:
        print(f"labkit join: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        sig = terminated[0] if terminated else signal.SIGINT
        print(f"labkit join: interrupted by {sig.name}: the join was undone", file=sys.stderr)
        return 128 + sig
    try:
        stop = _stop_on_signals()
        print(f"\nThis node has joined the cluster and a new control plane instance was created:\n\n"
              f"* The Kubernetes control plane instances scaled up.\n"
              f"* A new etcd member was added to the local/stacked etcd cluster.\n\n"
              f"labkit: joined as {joined.member.name}, API server at {joined.member.url} behind {args.endpoint}; "
              f"Ctrl-C leaves (its etcd member is removed, as kubeadm reset does)", flush=True)
        stop.wait()
    finally:
        joined.leave()
        print(f"labkit: {joined.member.name} left the cluster", flush=True)
    return 0


def _join_worker(args: argparse.Namespace) -> int:
    """A worker node: the kubelet's TLS bootstrap, then the kubelet in the foreground until a signal."""
    settings = joinworker.WorkerSettings(
        args.endpoint, args.token, args.discovery_token_ca_cert_hash, node_name=args.node_name,
        discovery_timeout=args.discovery_timeout,
        unsafe_skip_ca_verification=args.discovery_token_unsafe_skip_ca_verification)
    worker = joinworker.join_worker(settings, out=lambda line: print(line, flush=True))
    try:
        stop = _stop_on_signals()
        print(joinworker.JOINED, flush=True)
        print(f"\nlabkit: joined as node {worker.node_name} (certificate request "
              f"{worker.csr_name}); Ctrl-C stops its kubelet (the Node object stays, as after kubeadm reset)",
              flush=True)
        stop.wait()
    finally:
        worker.leave()
        print(f"labkit: {worker.node_name}'s kubelet stopped", flush=True)
    return 0


def _add_kit_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from labkit.kit import DEFAULT_DIR

    kit = sub.add_parser("kit", help="write an offline install kit: every wheel, busybox, kubectl, the images, "
                                     "the course, a README and install.sh")
    kit.add_argument("dir", type=Path, nargs="?", default=Path(DEFAULT_DIR),
                     help=f"the kit's folder (default ./{DEFAULT_DIR}; a kit there is replaced)")
    kit.add_argument("--python-version", default=None, metavar="X.Y",
                     help="wheels for this Python (pip download's; default: X.Y of the one running labkit, any X.Y.Z)")
    kit.add_argument("--platform", action="append", default=[], metavar="TAG",
                     help="wheels for this platform tag, e.g. manylinux2014_aarch64 (pip download's; repeatable); "
                          "such a kit goes without this machine's binaries and images")


def _kit(args: argparse.Namespace) -> int:
    from labkit import kit

    try:
        kit.build(args.dir.resolve(), python_version=args.python_version, platforms=args.platform,
                  out=lambda line: print(line, flush=True))
    except kit.KitError as e:
        print(f"labkit kit: {e}", file=sys.stderr)
        return 1
    return 0


def _announce(cluster: Cluster, nodes: int) -> None:
    print(f"labkit cluster ready at {cluster.url} ({nodes} node(s), {cluster.runtime} runtime): "
          f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
    print(f"runtime: {cluster.path}", flush=True)
    if cluster.etcd_description:
        print(cluster.etcd_description, flush=True)
    if cluster.load_balancer is not None:
        print(f"load balancer: {cluster.load_balancer.describe()}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labkit", description="A Kubernetes mini-cluster for learning.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_kubeadm_commands(sub)
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
    sub.add_parser("progress", help="the exercises passed and questions answered, per notebook of the course")
    doctor = sub.add_parser("doctor", help="check this machine for the course: what will work, what fixes a miss")
    doctor.add_argument("--json", action="store_true", help="the checks as JSON")
    clean = sub.add_parser("clean", help="remove what clusters whose process is gone left behind")
    clean.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    _add_kit_command(sub)
    sub.add_parser("room", help="rehearse a room: N learners running notebooks at once here (labkit room -h)")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["room"]:  # its own parser (labkit.room), as a learner process runs it too
        from labkit import room

        return room.main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "kit":
        return _kit(args)
    if args.command == "doctor":
        from labkit.doctor import diagnose

        report = diagnose()
        print(report.json() if args.json else report.text())
        return 1 if report.blockers else 0
    if args.command == "clean":
        from labkit.clean import clean as remove_leftovers

        remove_leftovers(dry_run=args.dry_run)
        return 0
    if args.command == "progress":
        from labkit.labs import progress

        print(progress.text())
        return 0
    if args.command == "init":
        return _init(args)
    if args.command == "join":
        return _join(args, sys.argv[1:] if argv is None else argv)

    stop = _stop_on_signals()
    try:
        cluster = Cluster(nodes=args.nodes, runtime=args.runtime, store=args.store, seed=args.seed,
                          kubeconfig=args.kubeconfig.resolve(), port=args.port, set_kubeconfig_env=False,
                          authorization=args.authorization_mode, control_planes=args.control_planes,
                          load_balancer=args.load_balancer).start(announce=False)
    except (ValueError, OSError, StoreError, LoadBalancerError) as e:
        print(f"labkit: {e}", file=sys.stderr)
        return 1
    try:
        _announce(cluster, args.nodes)
        stop.wait()
    finally:
        cluster.stop()
        print("labkit cluster stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
