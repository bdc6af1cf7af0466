"""``labkit join`` for a worker node: ``kubeadm join`` without ``--control-plane``.

Mirrors ``cmd/kubeadm/app/cmd/join.go`` and its worker phases: ``preflight`` (token discovery, then
``kubeadm-config`` read with the bootstrap token, as :mod:`.join` does for a control plane) and
``kubelet-start`` (``phases/join/kubelet.go``): a Node of the name that is Ready already refuses the
join; then the kubelet starts with the bootstrap token and performs the TLS bootstrap
(:mod:`labkit.kubelet.certbootstrap`: its CSR, approved by csrapproving because ``labkit init``
granted kubeadm's token group ``nodeclient``, signed by csrsigning), and with that certificate, as
``system:node:<name>``, registers its Node through the endpoint. The node is named ``--node-name``
or the first ``node-N`` the cluster has no Node for (the token may get nodes: ``kubeadm:get-nodes``).

The kubelet runs in this process, on a loop of its own, over the sim runtime (``labkit up``'s other
runtimes need the network plan of the cluster's own process). :meth:`JoinedWorker.leave` is
``kubeadm reset``: the kubelet stops and its files go; the Node object stays, as after kubeadm reset
(it turns NotReady once its Lease is old, and ``kubectl delete node`` removes it). A failure, the
endpoint's network errors included, is a :class:`~.join.PhaseError` of the phase that met it; an
interruption cancels the phases; either way the files go (a CSR already posted stays, as kubeadm's does).

Left out: the API server reaches only kubelets of its own process, so ``kubectl logs``, ``exec``,
``attach`` and ``port-forward`` to a pod on a joined worker answer that no kubelet serves them;
certificate rotation; kube-proxy and the pod network on the worker; the kubelet-check health probe
(the kubelet is ready when its Node is registered).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import shutil
import threading
from collections.abc import Callable

from labkit import bootstrap, owner
from labkit.apimachinery.nodeutil import get_node_condition
from labkit.client import APIStatusError, Client, resource_path
from labkit.kubeadm.join import PhaseError, discover, fetch_config
from labkit.kubelet.certbootstrap import BootstrapError, request_client_certificate
from labkit.kubelet.kubelet import Kubelet, KubeletConfig
from labkit.kubelet.runtime.sim import SimRuntime

#: kubeadm's ``timeouts.tlsBootstrap``
TLS_BOOTSTRAP_TIMEOUT = 300.0
JOINED = ("\nThis node has joined the cluster:\n"
          "* Certificate signing request was sent to apiserver and a response was received.\n"
          "* The Kubelet was informed of the new secure connection details.\n\n"
          "Run 'kubectl get nodes' on the control-plane to see this node join the cluster.")


@dataclasses.dataclass
class WorkerSettings:
    endpoint: str
    token: str
    ca_hashes: list[str]
    node_name: str | None = None
    discovery_timeout: float = bootstrap.DISCOVERY_TIMEOUT
    unsafe_skip_ca_verification: bool = False
    tls_bootstrap_timeout: float = TLS_BOOTSTRAP_TIMEOUT


async def _node_name(client: Client, wanted: str | None) -> str:
    """``--node-name``, refused when a Ready Node has it; else the first free ``node-N``."""
    for i in range(1, 10_000):
        name = wanted or f"node-{i}"
        try:
            node = await client.get(resource_path("v1", "nodes", name=name))
        except APIStatusError as e:
            if e.code == 404:
                return name
            raise PhaseError("kubelet-start", f"cannot get Node {name!r}: {e.status.get('message', e)}") from None
        except OSError as e:
            raise PhaseError("kubelet-start", f"cannot get Node {name!r}: {e}") from None
        if wanted:
            if (get_node_condition(node, "Ready") or {}).get("status") == "True":
                raise PhaseError("kubelet-start", f'a Node with name "{name}" and status "Ready" already exists in '
                                 "the cluster. You must delete the existing Node or change the name of this new "
                                 "joining Node")
            return name
    raise PhaseError("kubelet-start", "no free node name")


class JoinedWorker:
    """A worker node this process joined: its kubelet, on a loop in a thread of its own."""

    def __init__(self, settings: WorkerSettings, out: Callable[[str], None]) -> None:
        self.settings, self.out = settings, out
        self.workdir = owner.make_workdir("labkit-worker-")
        self.node_name = ""
        self.csr_name = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._joined: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="labkit-worker", daemon=True)

    def join(self) -> None:
        """Run the phases and start the kubelet; raises PhaseError (KeyboardInterrupt when interrupted:
        the phases are cancelled) with nothing left behind."""
        self._thread.start()
        try:
            self._joined.result()
        except BaseException:
            if self._loop is not None and self._task is not None:
                with contextlib.suppress(RuntimeError):  # the phases ended already, and their loop closed
                    self._loop.call_soon_threadsafe(self._task.cancel)
            self._thread.join()
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise

    def leave(self) -> None:
        """``kubeadm reset``: stop the kubelet and remove its files; the Node object stays."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        shutil.rmtree(self.workdir, ignore_errors=True)

    async def _main(self) -> None:
        self._loop, self._stop, self._task = asyncio.get_running_loop(), asyncio.Event(), asyncio.current_task()
        try:
            kubelet = await self._phases()
        except BaseException as e:  # noqa: BLE001 - handed to the thread that waits in join(), which raises it
            self._joined.set_exception(e)
            return
        self._joined.set_result(None)
        try:
            await self._stop.wait()
        finally:
            await kubelet.stop()  # and its client

    async def _phases(self) -> Kubelet:
        s, out = self.settings, self.out
        out("[preflight] Running pre-flight checks")
        found = await discover(s.endpoint, s.token, s.ca_hashes, s.discovery_timeout, s.unsafe_skip_ca_verification)
        ca_file = self.workdir / "pki" / "ca.crt"
        ca_file.parent.mkdir(parents=True)
        ca_file.write_bytes(found.ca_pem)
        out('[preflight] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
        client = Client(found.server, ca_file=ca_file, token=s.token, user_agent="kubelet/labkit")
        try:
            config = await fetch_config(client)
            self.node_name = await _node_name(client, s.node_name)
            out("[kubelet-start] Starting the kubelet")
            out("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap")
            try:
                cert, self.csr_name = await request_client_certificate(
                    client, self.node_name, self.workdir / "kubelet" / "pki", timeout=s.tls_bootstrap_timeout)
            except (BootstrapError, APIStatusError, OSError) as e:
                raise PhaseError("kubelet-start", f"the kubelet's TLS bootstrap failed: {e}") from None
        finally:
            await client.close()
        node_client = Client(found.server, ca_file=ca_file, cert_file=cert, key_file=cert,
                             user_agent="kubelet/labkit")
        kubelet = Kubelet(node_client, node_name=self.node_name, runtime=SimRuntime(node=self.node_name),
                          root_dir=self.workdir / "kubelet" / "root",
                          config=KubeletConfig(cluster_cidr=config.pod_subnet or KubeletConfig.cluster_cidr))
        try:
            await kubelet.start()
        except BaseException as e:
            await node_client.close()
            if isinstance(e, (APIStatusError, OSError)):
                raise PhaseError("kubelet-start", f"the kubelet did not register its Node: {e}") from None
            raise
        return kubelet


def join_worker(settings: WorkerSettings, *, out: Callable[[str], None] = print) -> JoinedWorker:
    """``kubeadm join ENDPOINT --token ... --discovery-token-ca-cert-hash ...``: returns the running
    worker; raises PhaseError with nothing left behind."""
    worker = JoinedWorker(settings, out)
    worker.join()
    return worker


