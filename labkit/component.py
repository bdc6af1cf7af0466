"""What every labkit component has in common: an identity, tasks on the cluster's loop, and gates.

A component (scheduler, a controller, a kubelet, kube-proxy) holds an API client authenticated as
itself and runs its loops as asyncio tasks on the cluster's event loop. Each loop takes work through
a :class:`~labkit.workqueue.Gate`, which is how ``Cluster.pause()`` / ``step()`` / ``resume()`` hold
and release it. Mirrors nothing single in Kubernetes: there each component is its own process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from labkit.client import Client
from labkit.trace import Trace
from labkit.workqueue import Gate

log = logging.getLogger(__name__)


class RepeatedFailure:
    """Logs a loop's failure once, not on every retry: a kubelet whose Node was deleted fails its status
    update every few seconds, and each warning would land in the notebook cell. The same failure again
    goes to debug; a different one, or the first after a success, warns again."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger, self.what, self.last = logger, what, ""

    def failed(self, error: Exception | str) -> None:
        message = f"{self.what}: {error}"
        if message != self.last:
            self.logger.warning("%s (retrying; repeats are not logged)", message)
        else:
            self.logger.debug("%s", message)
        self.last = message

    def succeeded(self) -> None:
        self.last = ""


class Component:
    """Base class: subclasses implement :meth:`run` (start their loops with :meth:`spawn`)."""

    name = "component"
    #: stopped before every other component when the cluster stops: a view over the cluster, which
    #: then keeps what the cluster was rather than what its stopping made of it
    stops_first = False

    def __init__(self, client: Client) -> None:
        self.client = client
        self.gates: list[Gate] = []
        self.cluster_trace: Trace | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def attach_trace(self, trace: Trace) -> None:
        """Where :meth:`decide` records (the cluster attaches its trace when it adds the component)."""
        self.cluster_trace = trace

    def decide(self, resource: str, key: str, summary: str, **data: Any) -> None:
        """Record what this component decided about one object (``namespace/name`` or ``name``), so the
        story of an action can show *why* the next request was sent."""
        if self.cluster_trace is not None:
            namespace, _, name = key.rpartition("/")
            self.cluster_trace.decision(component=self.name, resource=resource, namespace=namespace, name=name,
                                summary=summary, data=data)

    def gate(self, name: str | None = None) -> Gate:
        """A new gate for one of this component's loops."""
        g = Gate(name or self.name)
        self.gates.append(g)
        return g

    def keep_held_as(self, old: Component) -> None:
        """Start held if ``old``, the instance this one replaces (a restart), was held by ``Cluster.pause()``."""
        if any(g.paused for g in old.gates):
            for g in self.gates:
                g.pause()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: %s ended with %r", self.name, task.get_name(), task.exception())

    async def start(self) -> None:
        await self.run()

    async def run(self) -> None:
        """Start this component's loops (return once they are started and caches synced)."""

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.close()
