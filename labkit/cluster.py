"""``labkit.Cluster``: a whole cluster in this Python process, for notebooks, tests and ``labkit up``.

What ``kind`` or ``kubeadm`` would set up, in-process: a PKI, the store, the API server on a free
loopback port, and the nodes, each registering itself with its own identity. Everything runs on one
background thread with its own asyncio loop, so notebook cells (and the official ``kubernetes``
client, which blocks) never wait on themselves. Starting a cluster points this process's
``KUBECONFIG`` at the cluster's kubeconfig, so ``config.load_kube_config()`` works as written; the
user's ``~/.kube/config`` is never touched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from labkit import store as kv
from labkit.apiserver.pki import PKI, write_kubeconfig
from labkit.apiserver.server import APIServer
from labkit.apiserver.strategy import now_utc, rfc3339
from labkit.client import Client
from labkit.component import Component
from labkit.ids import IdSource
from labkit.kubelet import registration
from labkit.trace import Trace

T = TypeVar("T")
RUNTIMES = ("docker", "process", "sim")


class Cluster:
    """A labkit cluster. Use as ``with Cluster(nodes=2) as c: ...`` or ``c = Cluster().start()``."""

    def __init__(self, *, nodes: int = 1, runtime: str | None = None, store: str = "memory", seed: int | None = None,
                 kubeconfig: str | Path | None = None, port: int = 0, set_kubeconfig_env: bool = True) -> None:
        runtime = runtime or os.environ.get("LABKIT_RUNTIME") or "sim"
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
        if nodes < 0:
            raise ValueError("nodes must be >= 0")
        self.node_names = [f"node-{i + 1}" for i in range(nodes)]
        self.runtime = runtime
        self.store_spec = store
        self.seed = seed
        self.port = port
        self.trace = Trace()
        self._kubeconfig_arg = Path(kubeconfig) if kubeconfig else None
        self._set_env = set_kubeconfig_env
        self._workdir: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._saved_env: str | None = None
        self._clients: list[Client] = []
        self._pki: PKI | None = None
        self.components: list[Component] = []
        self.store: kv.Store | None = None
        self.apiserver: APIServer | None = None
        self.kubeconfig: Path | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> Cluster:
        if self._thread is not None:
            return self
        self._workdir = Path(tempfile.mkdtemp(prefix="labkit-"))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="labkit-cluster", daemon=True)
        self._thread.start()
        try:
            self.run(self._start(), timeout=timeout)
        except BaseException:
            self.stop()
            raise
        if self._set_env:
            self._point_kubeconfig_here()
        # The kernel now holds ~10^5 long-lived objects (clients, pydantic models, aiohttp); freezing them
        # keeps the garbage collector's full passes (60-300 ms) off every request's path.
        gc.collect()
        gc.freeze()
        return self

    async def _start(self) -> None:
        assert self._workdir is not None
        self.store = kv.open_store(self.store_spec)
        pki = self._pki = PKI.create(self._workdir / "pki")
        self.apiserver = APIServer(self.store, pki, ids=IdSource(self.seed), trace=self.trace)
        url = await self.apiserver.start(port=self.port)
        cert, key = pki.issue_client_cert("admin", user="kubernetes-admin", groups=["system:masters"])
        self.kubeconfig = self._kubeconfig_arg or self._workdir / "kubeconfig"
        write_kubeconfig(self.kubeconfig, server=url, ca_pem=pki.ca_cert_pem, user="kubernetes-admin",
                         client_cert=cert, client_key=key)
        now = rfc3339(now_utc())
        for i, name in enumerate(self.node_names):
            client = self.client_for(f"system:node:{name}", ["system:nodes"], agent="kubelet")
            node = registration.node_object(name, address=f"127.0.1.{i + 1}", runtime=f"labkit://{self.runtime}", now=now)
            await registration.register(client, node)
        self.apiserver.ready = True

    def client_for(self, user: str, groups: Sequence[str] = (), *, agent: str = "labkit") -> Client:
        """An API client with its own client certificate for ``user`` (a component's identity)."""
        if self._pki is None or self.apiserver is None:
            raise RuntimeError("the cluster is not started: call start() first")
        safe = "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in user)
        cert, key = self._pki.issue_client_cert(safe, user=user, groups=list(groups))
        client = Client(self.apiserver.url, ca_file=self._pki.directory / "ca.crt", cert_file=cert, key_file=key,
                        user_agent=f"{agent}/labkit")
        self._clients.append(client)
        return client

    def add(self, component: Component, timeout: float = 60) -> Component:
        """Start a component on the cluster's loop; it stops with the cluster."""
        self.components.append(component)
        self.run(component.start(), timeout=timeout)
        return component

    # --- step mode -------------------------------------------------------------------------------

    def pause(self) -> None:
        """Hold every control loop between work items."""
        for component in self.components:
            for gate in component.gates:
                self._loop_call(gate.pause)

    def resume(self) -> None:
        for component in self.components:
            for gate in component.gates:
                self._loop_call(gate.resume)

    def step(self, component: str | None = None, n: int = 1) -> str:
        """Let one work item through: of the named component, or of the first one with an item waiting.
        Returns the name of the loop that stepped (empty if nothing was waiting)."""
        for c in self.components:
            if component not in (None, c.name):
                continue
            for gate in c.gates:
                if gate.waiting or component is not None:
                    self._loop_call(gate.step, n)
                    return gate.name
        return ""

    def _loop_call(self, fn: Any, *args: Any) -> None:
        if self._loop is None:
            raise RuntimeError("the cluster is not started: call start() first")
        self._loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        """Stop every component and remove what the cluster created (workdir, kubeconfig env)."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            try:
                self.run(self._stop(), timeout=30)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
        if self._loop is not None and not self._loop.is_running():
            self._loop.close()
        self._restore_kubeconfig_env()
        if self._kubeconfig_arg is not None:
            self._kubeconfig_arg.unlink(missing_ok=True)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._loop = self._thread = self._workdir = None

    async def _stop(self) -> None:
        for component in reversed(self.components):
            await component.stop()
        self.components.clear()
        for client in self._clients:
            await client.close()
        self._clients.clear()
        if self.apiserver is not None:
            await self.apiserver.stop()
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- helpers ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.apiserver.url if self.apiserver else ""

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60) -> T:
        """Run a coroutine on the cluster's loop from any other thread and wait for its result."""
        if self._loop is None:
            raise RuntimeError("the cluster is not started: call start() first")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the cluster did not finish within {timeout}s") from None

    def _point_kubeconfig_here(self) -> None:
        self._saved_env = os.environ.get("KUBECONFIG")
        os.environ["KUBECONFIG"] = str(self.kubeconfig)
        module = sys.modules.get("kubernetes.config.kube_config")
        if module is not None:  # it reads KUBECONFIG once, at import
            module.KUBE_CONFIG_DEFAULT_LOCATION = str(self.kubeconfig)  # type: ignore[attr-defined]

    def _restore_kubeconfig_env(self) -> None:
        if not self._set_env or self.kubeconfig is None or os.environ.get("KUBECONFIG") != str(self.kubeconfig):
            return
        if self._saved_env is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = self._saved_env
        module = sys.modules.get("kubernetes.config.kube_config")
        if module is not None:
            module.KUBE_CONFIG_DEFAULT_LOCATION = self._saved_env or "~/.kube/config"  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.apiserver and self.apiserver.ready else "stopped"
        return f"<labkit.Cluster nodes={len(self.node_names)} runtime={self.runtime} store={self.store_spec} {state}>"
