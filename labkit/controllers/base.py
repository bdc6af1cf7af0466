"""The controller pattern: shared informers, a gated work queue, and ``sync(key)``.

Mirrors ``k8s.io/client-go/informers`` (``SharedInformerFactory``: one informer per resource, shared
by every controller of a process) and the shape of every ``pkg/controller/<name>`` controller:
event handlers turn cache changes into keys on a rate-limited ``workqueue``, workers take keys and
call ``syncHandler(key)``, an error re-queues the key with back-off. The public seam for learners is
:meth:`Controller.reconcile` and :class:`Result`, as controller-runtime's ``Reconciler`` and
``reconcile.Result``. A controller reads the time from its ``clock`` (``k8s.io/utils/clock``, as kube's
controllers take one), so a test runs it on a fake clock, and :meth:`Controller.process` is one turn of
the worker loop (``processNextWorkItem``) that a test can drive key by key (``labkit.testing``).
Left out: resync periods; a controller tolerates the 409/404s a stale cache causes (the ReplicaSet and
Job controllers add ``expectations`` for their own writes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from labkit.apimachinery.meta import Obj, get_controller_of
from labkit.client import APIStatusError, Client
from labkit.clock import REAL, Clock
from labkit.component import Component, RepeatedFailure
from labkit.controllers.config import ControllerManagerConfig
from labkit.events import EventRecorder
from labkit.informer import Informer, key_of
from labkit.workqueue import WorkQueue

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    """What a reconcile asks for next: nothing, a retry with back-off, or another look after a delay."""

    requeue: bool = False
    requeue_after: float = 0.0


class SharedInformers:
    """One :class:`~labkit.informer.Informer` per ``(apiVersion, plural)``, started once."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._informers: dict[tuple[str, str], Informer] = {}
        self._started: set[tuple[str, str]] = set()

    def get(self, api_version: str, plural: str) -> Informer:
        key = (api_version, plural)
        if key not in self._informers:
            self._informers[key] = Informer(self.client, api_version, plural)
        return self._informers[key]

    async def start(self, spawn: Callable[..., asyncio.Task[Any]]) -> None:
        """Run every informer not running yet and wait until all caches have synced."""
        for key, informer in self._informers.items():
            if key not in self._started:
                self._started.add(key)
                spawn(informer.run(), f"informer:{informer.plural}")
        await asyncio.gather(*(i.synced.wait() for i in self._informers.values()))


CONTROLLER_UID_INDEX = "controllerUID"


def controller_uid_index(obj: Obj) -> list[str]:
    """``PodControllerUIDIndex``: an object's controller's uid, or for an orphan ``_ORPHAN_POD/<namespace>``."""
    ref = get_controller_of(obj)
    return [ref["uid"]] if ref is not None else [orphans_of(obj["metadata"].get("namespace", ""))]


def orphans_of(namespace: str) -> str:
    """The ``controllerUID`` index value of the objects in ``namespace`` that no controller owns."""
    return f"_ORPHAN_POD/{namespace}"


class Controller(Component):
    """A control loop. Subclass, list the resources to watch, and implement :meth:`reconcile`::

        class ConfigMapPrinter(Controller):
            name = "configmap-printer"
            watches = [("v1", "configmaps")]

            async def reconcile(self, key: str) -> Result | None:
                cm = self.informer("v1", "configmaps").get(key)
                ...
                return Result(requeue_after=30)

    Every add/update/delete of a watched object queues its ``namespace/name`` key. Built-in
    controllers override :meth:`register` to map other objects to keys (a Pod to its ReplicaSet).
    """

    name = "controller"
    watches: ClassVar[list[tuple[str, str]]] = []
    workers: ClassVar[int] = 1
    #: the plural of the objects this controller's keys name (default: the first watched resource)
    resource: ClassVar[str] = ""

    def __init__(self, client: Client, *, informers: SharedInformers | None = None,
                 config: ControllerManagerConfig | None = None, clock: Clock = REAL) -> None:
        super().__init__(client)
        self.config = config or ControllerManagerConfig()
        self.informers = informers or SharedInformers(client)
        self.clock = clock
        self._registered = False
        self.queue: WorkQueue[str] = WorkQueue(self.name, gate=self.gate(self.name), clock=clock)
        self._failing: dict[str, RepeatedFailure] = {}  # keys whose last sync failed
        self.recorder = EventRecorder(client, self.name)  # the event source, e.g. "replicaset-controller"

    def informer(self, api_version: str, plural: str) -> Informer:
        return self.informers.get(api_version, plural)

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(key_of(obj))

    def register(self) -> None:
        """Set up event handlers (before the informers start)."""
        for api_version, plural in self.watches:
            self.informer(api_version, plural).add_handlers(
                on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new), on_delete=self.enqueue)

    def setup(self) -> None:
        """Register the event handlers once (a manager does this for all before starting informers)."""
        if not self._registered:
            self._registered = True
            self.register()

    async def run(self) -> None:
        self.setup()
        await self.informers.start(self.spawn)
        for i in range(self.workers):
            self.spawn(self._worker(), f"worker-{i}")

    async def sync(self, key: str) -> Result | None:
        """Handle one key (``syncHandler``); raising re-queues it with back-off."""
        return await self.reconcile(key)

    async def reconcile(self, key: str) -> Result | None:
        raise NotImplementedError(f"{type(self).__name__} must implement reconcile(key)")

    def object_of(self, key: str) -> tuple[str, str]:
        """The ``(plural, key)`` of the object a queue key names (a controller whose queue holds keys of
        two resources says which, as the PersistentVolume binder's ``claim:`` and ``volume:`` keys)."""
        return self.resource or (self.watches[0][1] if self.watches else ""), key

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            await self.process(key)

    async def process(self, key: str) -> None:
        """One work item, taken from the queue (``processNextWorkItem`` after its ``Get``): sync it, then
        forget it, look again after ``requeue_after``, or retry with back-off after a failure; always
        ``done``."""
        try:
            result = await self.sync(key)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # any failure: retry later, as processNextWorkItem (the traceback is logged)
            # one line, once per key and error (a notebook cell is not a log); the traceback at debug level
            log.debug("%s: syncing %r failed", self.name, key, exc_info=True)
            if not (isinstance(e, APIStatusError) and e.code in (404, 409)):  # a stale cache: retried quietly
                failures = self._failing.setdefault(key, RepeatedFailure(log, f"{self.name}: syncing {key!r} failed"))
                failures.failed(e if isinstance(e, APIStatusError) else f"{type(e).__name__}: {e}")
            self.queue.add_rate_limited(key)
        else:
            self._failing.pop(key, None)
            plural, name = self.object_of(key)
            self.decide(plural, name, f"reconciled {name}" + (f", requeue in {result.requeue_after:g}s" if result
                                                              and result.requeue_after > 0 else ""))
            if result is not None and result.requeue_after > 0:
                self.queue.forget(key)
                self.queue.add_after(key, result.requeue_after)
            elif result is not None and result.requeue:
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
        finally:
            self.queue.done(key)

    async def stop_workers(self) -> None:
        """Stop this controller's loops but keep its client and queue (a manager losing leadership)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        self.queue.shut_down()
        await self.recorder.flush()
        await super().stop()
