"""``labkit join --control-plane``: ``kubeadm join`` for a control-plane node (a worker: :mod:`.joinworker`).

Mirrors ``cmd/kubeadm/app/cmd/join.go`` and its phases, for ``--control-plane``:

- ``preflight``: token discovery (:func:`labkit.bootstrap.discover`, failures wrapped as kubeadm's
  ``couldn't validate the identity of the API Server``), then ``kubeadm-config`` read with the
  bootstrap token (:mod:`.uploadconfig`), refusing a cluster without a ``controlPlaneEndpoint``, and
  (after ``check-etcd``'s ``member list``) the port check of the API server's slot;
- ``control-plane-prepare``: ``download-certs`` (:mod:`.copycerts`), then this node's certificates
  signed with the downloaded CAs: the API server's serving certificate (for the endpoint's host too)
  and etcd's (``server``, ``peer``, ``healthcheck-client``, ``apiserver-etcd-client``);
- ``control-plane-join/etcd`` (``phases/etcd/local.go``, kubeadm >= 1.29): ``member add`` as a
  learner, the member started with ``--initial-cluster-state=existing`` and every member in
  ``--initial-cluster``, ``member promote``, then wait until it is healthy;
- then this node's API server, scheduler and controller manager, whose failures are reported as
  ``control-plane-prepare/control-plane`` (kubeadm writes their static Pods there, before the etcd
  member, and the kubelet starts them; labkit starts them itself once the member is healthy)
  (:class:`labkit.controlplane.ControlPlaneMember`, on a loop of their own in this process), serving
  where the endpoint's load balancer expects the member's slot
  (:func:`labkit.controlplane.member_port`); :meth:`JoinedMember.leave` is ``kubeadm reset``: stop
  them, ``member remove``, stop the etcd member, remove the files.

Any failure after the member add, or an interruption (KeyboardInterrupt), removes the member again, so
nothing is left half-joined; network failures are reported as the phase that met them. The node
picks the first member name (kind's, ``labkit-control-plane2`` ...) etcd does not list.

Left out: the kubelets'
streaming through a joined member's API server (it knows no kubelet: ``kubectl logs`` and ``exec``
answer through the first member), a kubeconfig for the joined node, mark-control-plane (the member is
not a node), and updating the etcd annotation of ``kubeadm-config`` with the new member's URL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from labkit import bootstrap, owner
from labkit.apiserver.pki import CA_CERT, CA_KEY, PKI, EtcdPKI
from labkit.client import Client
from labkit.controllers.config import ControllerManagerConfig
from labkit.controlplane import (
    ENDPOINT_MEMBERS,
    ControlPlaneMember,
    MemberSettings,
    member_names,
    member_port,
    parse_endpoint,
)
from labkit.kubeadm import copycerts, uploadconfig
from labkit.leaderelection import LeaderElectionConfig
from labkit.store import StoreError
from labkit.store.etcd_member import EtcdMember, MemberTLS, Ports
from labkit.store.membership import HEALTHY_CHECK_TIMEOUT, Membership, initial_cluster
from labkit.trace import Trace

log = logging.getLogger(__name__)


class PhaseError(Exception):
    """A phase failed: ``error execution phase <phase>: <kubeadm's message>``, as kubeadm prints it."""

    def __init__(self, phase: str, message: str) -> None:
        super().__init__(f"error execution phase {phase}: {message}")


@dataclasses.dataclass
class JoinedMember:
    """A control-plane member this process joined to the cluster; :meth:`leave` undoes the join."""

    member: ControlPlaneMember
    membership: Membership
    etcd_id: str
    workdir: Path

    def leave(self) -> None:
        """``kubeadm reset``: stop the components, remove the etcd member while it still votes (a
        cluster of two needs both to agree), then stop it and remove its files."""
        self.member.stop()
        try:
            self.membership.remove(self.etcd_id)
        except StoreError as e:  # still stop the member: etcdctl member remove is what is left to do
            log.warning("etcd member %s (%s) was not removed from the cluster: %s", self.member.name, self.etcd_id, e)
        self.membership.close()
        self.member.etcd.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


async def discover(endpoint: str, token: str, ca_hashes: list[str], timeout: float,
                   unsafe_skip_ca_verification: bool) -> bootstrap.DiscoveryResult:
    """``discovery.For``: token discovery, its failures as the ``preflight`` phase reports them."""
    try:
        return await bootstrap.discover(endpoint, token, ca_hashes, timeout,
                                        unsafe_skip_ca_verification=unsafe_skip_ca_verification)
    except bootstrap.JoinError as e:
        raise PhaseError("preflight", f"couldn't validate the identity of the API Server: {e}") from None


async def fetch_config(client: Client) -> uploadconfig.ClusterConfiguration:
    """``kubeadm-config``, its failures (also the endpoint's network errors) as ``preflight`` reports them."""
    try:
        return await uploadconfig.fetch_config(client)
    except uploadconfig.ConfigError as e:
        raise PhaseError("preflight", str(e)) from None
    except OSError as e:
        raise PhaseError("preflight", f"unable to fetch the kubeadm-config ConfigMap: {e}") from None


async def _discover_and_read(
        endpoint: str, token: str, ca_hashes: list[str], timeout: float, unsafe_skip_ca_verification: bool,
        certs_dir: Path, certificate_key: str,
        out: Callable[[str], None]) -> tuple[bootstrap.DiscoveryResult, uploadconfig.ClusterConfiguration]:
    """The ``preflight`` and ``download-certs`` phases, with the bootstrap token's identity."""
    found = await discover(endpoint, token, ca_hashes, timeout, unsafe_skip_ca_verification)
    certs_dir.mkdir(parents=True, exist_ok=True)
    (certs_dir / "ca.crt").write_bytes(found.ca_pem)
    client = Client(found.server, ca_file=certs_dir / "ca.crt", token=token, user_agent="kubeadm-join/labkit")
    try:
        config = await fetch_config(client)
        if not config.control_plane_endpoint:
            raise PhaseError("preflight", uploadconfig.NOT_HA)
        out(f'[download-certs] Downloading the certificates in Secret "{copycerts.SECRET}" in the "kube-system" '
            'Namespace')
        try:
            await copycerts.download_certs(client, certificate_key, certs_dir)
        except copycerts.CopyCertsError as e:
            raise PhaseError("control-plane-prepare/download-certs", str(e)) from None
        except OSError as e:
            raise PhaseError("control-plane-prepare/download-certs", f"error downloading certs: {e}") from None
    finally:
        await client.close()
    return found, config


def _port_free(port: int) -> bool:
    """kubeadm's ``PortOpenCheck``: the port can be listened on, as Go listens (SO_REUSEADDR: the
    connections a member that just left keeps in TIME_WAIT do not hold it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _etcd_context(pki: EtcdPKI) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(*map(str, pki.pair("healthcheck-client")))
    return context


def join_control_plane(endpoint: str, token: str, ca_hashes: list[str], certificate_key: str, *,
                       discovery_timeout: float = bootstrap.DISCOVERY_TIMEOUT,
                       unsafe_skip_ca_verification: bool = False, out: Callable[[str], None] = print,
                       ) -> JoinedMember:
    """``kubeadm join ENDPOINT --token ... --discovery-token-ca-cert-hash ... --control-plane
    --certificate-key KEY``: returns the running member; raises PhaseError (KeyboardInterrupt when
    interrupted) with nothing left behind."""
    workdir = owner.make_workdir("labkit-join-")
    try:
        out("[preflight] Running pre-flight checks")
        out('[preflight] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
        found, config = asyncio.run(_discover_and_read(endpoint, token, ca_hashes, discovery_timeout,
                                                       unsafe_skip_ca_verification, workdir / "pki",
                                                       certificate_key, out))
        return _join(workdir, found, config, out)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _join(workdir: Path, found: bootstrap.DiscoveryResult, config: uploadconfig.ClusterConfiguration,
          out: Callable[[str], None]) -> JoinedMember:
    certs_dir = workdir / "pki"
    out(f'[certs] Using certificateDir folder "{certs_dir}"')
    host, port = parse_endpoint(config.control_plane_endpoint)
    pki = PKI.load(certs_dir)
    pki.issue_serving_cert(["127.0.0.1", "localhost", host])
    etcd_pki = EtcdPKI.with_ca(certs_dir, node_name="")
    membership = Membership(list(config.etcd_endpoints), _etcd_context(etcd_pki))
    try:
        try:
            members = membership.members()
        except (StoreError, OSError) as e:
            raise PhaseError("check-etcd", f"etcd cluster is not healthy: {e}") from None
        taken = {m.name for m in members}
        free = [(i, n) for i, n in enumerate(member_names(ENDPOINT_MEMBERS)) if n not in taken]
        if not free:
            raise PhaseError("control-plane-join/etcd", f"the load balancer at {host}:{port} lists "
                             f"{ENDPOINT_MEMBERS} control-plane members, and all have joined")
        index, name = free[0]
        api_port = member_port(port, index)
        if not _port_free(api_port):
            raise PhaseError("preflight", f"[ERROR Port-{api_port}]: Port {api_port} is in use (where the load "
                             f"balancer expects {name}'s API server)")
        for cert in ("apiserver", "etcd/server", "etcd/peer", "etcd/healthcheck-client", "apiserver-etcd-client"):
            out(f'[certs] Generating "{cert}" certificate and key')
        etcd_pki = dataclasses.replace(etcd_pki, node_name=name)
        tls = MemberTLS(etcd_pki.ca_cert, *etcd_pki.issue_member(name))
        etcd = EtcdMember(workdir / "etcd", tls, name=name, ports=Ports.free())
        try:
            learner, now = membership.add_learner(etcd.peer_url)
        except (StoreError, OSError) as e:
            raise PhaseError("control-plane-join/etcd", f"error adding etcd member: {e}") from None
    except BaseException:
        membership.close()
        raise
    joined = JoinedMember(ControlPlaneMember(name, index, etcd, MemberSettings(
        pki=pki, etcd_pki=etcd_pki, trace=Trace(), kubelets={}, api_services={}, service_cidr=config.service_subnet,
        authorization="RBAC", controllers=ControllerManagerConfig(
            cluster_cidr=config.pod_subnet, root_ca=found.ca_pem.decode(),
            cluster_signing_cert_file=str(certs_dir / CA_CERT), cluster_signing_key_file=str(certs_dir / CA_KEY)),
        scheduler_election=LeaderElectionConfig())), membership, learner.id, workdir)
    phase = "control-plane-join/etcd"
    try:
        out("[etcd] Announced new etcd member joining to the existing etcd cluster")
        etcd.initial_cluster, etcd.initial_state = initial_cluster(now, name, etcd.peer_url), "existing"
        etcd.launch()
        membership.promote(learner.id)
        out("[etcd] Waiting for the new etcd member to join the cluster. This can take up to "
            f"{HEALTHY_CHECK_TIMEOUT:g}s")
        etcd.wait_healthy(HEALTHY_CHECK_TIMEOUT)
        phase = "control-plane-prepare/control-plane"
        joined.member.port = api_port
        joined.member.start()
    except BaseException as e:
        _undo(joined)
        if isinstance(e, (StoreError, OSError, TimeoutError)):
            raise PhaseError(phase, str(e) or type(e).__name__) from None
        raise
    return joined


def _undo(joined: JoinedMember) -> None:
    """``leave`` after a failed join; its own failure is logged, so the join's error is the one reported."""
    try:
        joined.leave()
    except Exception:  # the join's error is the one to report; this one goes to the log
        log.exception("undoing the join of %s failed; etcd member %s may remain", joined.member.name, joined.etcd_id)
