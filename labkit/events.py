"""Recording Events: how components tell people what they did (``kubectl describe``, ``get events``).

Mirrors ``k8s.io/client-go/tools/record`` (``EventRecorder``, the ``EventCorrelator``'s dedup):
an Event names the object it is about (``involvedObject``), a ``reason`` in CamelCase and a
human ``message``; the same event again bumps ``count`` and ``lastTimestamp`` instead of creating a
new object. Events are written through the API server with the component's own identity, in the
background, and a failure to record one never fails the component. Left out: the
``events.k8s.io/v1`` API, spam filtering and aggregation of similar messages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import aiohttp
from typing import Any

from labkit.client import APIStatusError, Client, resource_path

Obj = dict[str, Any]
log = logging.getLogger(__name__)


def reference(obj: Obj) -> Obj:
    """An ObjectReference to ``obj`` (``involvedObject``)."""
    meta = obj["metadata"]
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""), "name": meta["name"],
           "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", "")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Records Events for one component (``source.component``), optionally on one host."""

    def __init__(self, client: Client, component: str, *, host: str = "") -> None:
        self.client = client
        self.source: Obj = {"component": component, **({"host": host} if host else {})}
        self._seen: dict[tuple[str, str, str, str], tuple[str, int]] = {}  # (uid+fieldPath, type, reason, message) -> (name, count)
        self._tasks: set[asyncio.Task[None]] = set()

    def event(self, obj: Obj, type: str, reason: str, message: str, *, field_path: str = "") -> None:
        """Record in the background (``Normal`` or ``Warning``); ``field_path``: the part of ``obj`` it is
        about (``spec.containers{web}``)."""
        task = asyncio.get_running_loop().create_task(self.emit(obj, type, reason, message, field_path=field_path))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def emit(self, obj: Obj, type: str, reason: str, message: str, *, field_path: str = "") -> None:
        ref = reference(obj)
        if field_path:
            ref["fieldPath"] = field_path
        namespace = ref.get("namespace", "default")
        key = (ref["uid"] + field_path, type, reason, message)
        now = _now()
        try:
            if key in self._seen:
                name, count = self._seen[key]
                self._seen[key] = (name, count + 1)
                await self.client.patch(resource_path("v1", "events", namespace=namespace, name=name),
                                        {"count": count + 1, "lastTimestamp": now})
                return
            name = f"{ref['name']}.{int(dt.datetime.now(dt.timezone.utc).timestamp() * 1e9):x}"  # as client-go names them
            body = {"metadata": {"name": name, "namespace": namespace}, "involvedObject": ref, "reason": reason,
                    "message": message, "type": type, "source": self.source, "count": 1, "firstTimestamp": now,
                    "lastTimestamp": now, "reportingComponent": self.source["component"],
                    "reportingInstance": self.source.get("host", "")}
            await self.client.create(resource_path("v1", "events", namespace=namespace), body)
            self._seen[key] = (name, 1)
        except (APIStatusError, OSError, aiohttp.ClientError) as e:
            log.debug("could not record event %s on %s: %s", reason, ref["name"], e)

    async def flush(self, timeout: float | None = None) -> None:
        """Wait for the events recorded so far to be written (tests and shutdown); after ``timeout``
        seconds give up on the rest, as events are best effort (a stopping component drops them)."""
        if not self._tasks:
            return
        pending = list(self._tasks)
        _, unsent = await asyncio.wait(pending, timeout=timeout)
        for task in unsent:
            task.cancel()
        if unsent:
            await asyncio.gather(*unsent, return_exceptions=True)
            log.info("%s: %d events dropped at shutdown", self.source["component"], len(unsent))
