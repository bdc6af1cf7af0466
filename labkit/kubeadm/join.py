"""``labkit join --control-plane``: ``kubeadm join`` for a control-plane node (a worker: :mod:`.joinworker`).

Mirrors ``cmd/kubeadm/app/cmd/join.go`` and its phases, for ``--control-plane``:

- ``preflight``: token discovery (:func:`labkit.bootstrap.discover`, failures wrapped as kubeadm's
  ``couldn't validate the identity of the API Server``), then ``kubeadm-config`` read with the
  bootstrap token (:mod:`.uploadconfig`), refusing a cluster without a ``controlPlaneEndpoint``;
- ``control-plane-prepare``: ``download-certs`` (:mod:`.copycerts`), then this node's certificates
  signed with the downloaded CAs: the API server's serving certificate (for the endpoint's host too)
  and etcd's (``server``, ``peer``, ``healthcheck-client``, ``apiserver-etcd-client``);
- ``control-plane-join/etcd`` (``phases/etcd/local.go``, kubeadm >= 1.29): ``member add`` as a
  learner, the member started with ``--initial-cluster-state=existing`` and every member in
  ``--initial-cluster``, ``member promote``, then wait until it is healthy;
- then this node's API server, scheduler and controller manager
  (:class:`labkit.controlplane.ControlPlaneMember`, on a loop of their own in this process), serving
  where the endpoint's load balancer expects the member's slot
  (:func:`labkit.controlplane.member_port`); :meth:`JoinedMember.leave` is ``kubeadm reset``: stop
  them, ``member remove``, stop the etcd member, remove the files.

Any failure after the member add removes the member again, so nothing is left half-joined. The node
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
import tempfile
from collections.abc import Callable
from pathlib import Path

from labkit import bootstrap
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
from labkit.store.membership import Membership, initial_cluster
from labkit.trace import Trace

log = logging.getLogger(__name__)
#: kubeadm's default discovery timeout (``timeouts.discovery``)
DISCOVERY_TIMEOUT = 300.0
ETCD_JOIN_TIMEOUT = 40.0  # etcdHealthyCheckInterval x etcdHealthyCheckRetries


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


async def discover(endpoint: str, token: str, ca_hashes: list[str], timeout: float) -> bootstrap.DiscoveryResult:
    """``discovery.For``: token discovery, its failures as the ``preflight`` phase reports them."""
    try:
        return await bootstrap.discover(endpoint, token, ca_hashes, timeout)
    except bootstrap.JoinError as e:
        raise PhaseError("preflight", f"couldn't validate the identity of the API Server: {e}") from None


async def _discover_and_read(
        endpoint: str, token: str, ca_hashes: list[str], timeout: float, certs_dir: Path, certificate_key: str,
        out: Callable[[str], None]) -> tuple[bootstrap.DiscoveryResult, uploadconfig.ClusterConfiguration]:
    """The ``preflight`` and ``download-certs`` phases, with the bootstrap token's identity."""
    found = await discover(endpoint, token, ca_hashes, timeout)
    certs_dir.mkdir(parents=True, exist_ok=True)
    (certs_dir / "ca.crt").write_bytes(found.ca_pem)
    client = Client(found.server, ca_file=certs_dir / "ca.crt", token=token, user_agent="kubeadm-join/labkit")
    try:
        try:
            config = await uploadconfig.fetch_config(client)
        except uploadconfig.ConfigError as e:
            raise PhaseError("preflight", str(e)) from None
        if not config.control_plane_endpoint:
            raise PhaseError("preflight", uploadconfig.NOT_HA)
        out(f'[download-certs] Downloading the certificates in Secret "{copycerts.SECRET}" in the "kube-system" '
            'Namespace')
        try:
            await copycerts.download_certs(client, certificate_key, certs_dir)
        except copycerts.CopyCertsError as e:
            raise PhaseError("control-plane-prepare/download-certs", str(e)) from None
    finally:
        await client.close()
    return found, config


def _port_free(port: int) -> bool:
    with socket.socket() as s:
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
                       discovery_timeout: float = DISCOVERY_TIMEOUT, out: Callable[[str], None] = print,
                       ) -> JoinedMember:
    """``kubeadm join ENDPOINT --token ... --discovery-token-ca-cert-hash ... --control-plane
    --certificate-key KEY``: returns the running member; raises PhaseError with nothing left behind."""
    workdir = Path(tempfile.mkdtemp(prefix="labkit-join-"))
    try:
        return _join(workdir, endpoint, token, ca_hashes, certificate_key, discovery_timeout, out)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _join(workdir: Path, endpoint: str, token: str, ca_hashes: list[str], certificate_key: str,
          discovery_timeout: float, out: Callable[[str], None]) -> JoinedMember:
    certs_dir = workdir / "pki"
    out("[preflight] Running pre-flight checks")
    out('[preflight] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
    found, config = asyncio.run(_discover_and_read(endpoint, token, ca_hashes, discovery_timeout, certs_dir,
                                                   certificate_key, out))
    out(f'[certs] Using certificateDir folder "{certs_dir}"')
    host, port = parse_endpoint(config.control_plane_endpoint)
    pki = PKI.load(certs_dir)
    pki.issue_serving_cert(["127.0.0.1", "localhost", host])
    etcd_pki = EtcdPKI.with_ca(certs_dir, node_name="")
    membership = Membership(list(config.etcd_endpoints), _etcd_context(etcd_pki))
    try:
        members = membership.members()
        taken = {m.name for m in members}
        free = [(i, n) for i, n in enumerate(member_names(ENDPOINT_MEMBERS)) if n not in taken]
        if not free:
            raise PhaseError("control-plane-join/etcd", f"the load balancer at {host}:{port} lists "
                             f"{ENDPOINT_MEMBERS} control-plane members, and all have joined")
        index, name = free[0]
        api_port = member_port(port, index)
        if not _port_free(api_port):
            raise PhaseError("control-plane-prepare", f"port 127.0.0.1:{api_port}, where the load balancer "
                             f"expects {name}'s API server, is in use")
        for cert in ("apiserver", "etcd/server", "etcd/peer", "etcd/healthcheck-client", "apiserver-etcd-client"):
            out(f'[certs] Generating "{cert}" certificate and key')
        etcd_pki = dataclasses.replace(etcd_pki, node_name=name)
        tls = MemberTLS(etcd_pki.ca_cert, *etcd_pki.issue_member(name))
        ports = Ports.free()
        etcd = EtcdMember(workdir / "etcd", tls, name=name, ports=ports)
        try:
            learner, now = membership.add_learner(etcd.peer_url)
        except StoreError as e:
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
    try:
        out("[etcd] Announced new etcd member joining to the existing etcd cluster")
        etcd.initial_cluster, etcd.initial_state = initial_cluster(now, name, etcd.peer_url), "existing"
        etcd.launch()
        membership.promote(learner.id)
        out(f"[etcd] Waiting for the new etcd member to join the cluster. This can take up to {ETCD_JOIN_TIMEOUT:g}s")
        etcd.wait_healthy(ETCD_JOIN_TIMEOUT)
        joined.member.port = api_port
        joined.member.start()
    except BaseException as e:
        joined.leave()
        if isinstance(e, (StoreError, OSError, TimeoutError)):
            raise PhaseError("control-plane-join/etcd", str(e)) from None
        raise
    return joined
