"""DefaultBinder, after kube's ``defaultbinder/default_binder_test.go`` (``TestDefaultBinder``): the
Binding names the pod with its UID and targets the node; an API error becomes an Error status."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from labkit.client import APIStatusError
from labkit.scheduler.framework import Code, CycleState, Framework, Handle, Status
from labkit.scheduler.interface import BindPlugin
from labkit.scheduler.plugins import DefaultBinder

from .helpers import pod

Obj = dict[str, Any]


class FakeClient:
    def __init__(self, error: APIStatusError | None = None) -> None:
        self.created: list[tuple[str, Obj]] = []
        self.error = error

    async def create(self, path: str, body: Obj) -> Obj:
        self.created.append((path, body))
        if self.error is not None:
            raise self.error
        return body


def handle(fw: Framework, client: FakeClient) -> Handle:
    return Handle(client=client, framework=fw, nodes=[], spawn=None, recorder=None)  # type: ignore[arg-type]


CONFLICT = APIStatusError(409, {"reason": "Conflict", "message": "pod p is already assigned to node \"m2\""})
CASES = [
    ("successful", None, Code.Success, ""),
    ("binding error", CONFLICT, Code.Error,
     'running Bind plugin "DefaultBinder": 409 Conflict: pod p is already assigned to node "m2"'),
]


@pytest.mark.parametrize("error,code,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bind(error: APIStatusError | None, code: Code, message: str) -> None:
    client = FakeClient(error)
    fw = Framework([DefaultBinder()], {})
    p = pod("p", namespace="ns", uid="123")
    status = asyncio.run(fw.run_bind_plugins(CycleState(), p, "m1", handle(fw, client)))
    assert (status.code, status.message) == (code, message)
    assert client.created == [("/api/v1/namespaces/ns/pods/p/binding", {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p", "namespace": "ns", "uid": "123"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "m1"}})]


class SkipAll(BindPlugin):
    name = "SkipAll"

    async def bind(self, state: CycleState, p: Any, node_name: str, h: Handle) -> Status | None:
        return Status.skip()


def test_a_bind_plugin_that_skips_leaves_the_pod_to_the_next() -> None:
    client = FakeClient()
    fw = Framework([SkipAll(), DefaultBinder()], {})
    assert asyncio.run(fw.run_bind_plugins(CycleState(), pod(), "m1", handle(fw, client))).is_success()
    assert len(client.created) == 1


def test_when_every_bind_plugin_skips_the_pod_is_not_bound() -> None:
    fw = Framework([SkipAll()], {})
    status = asyncio.run(fw.run_bind_plugins(CycleState(), pod(), "m1", handle(fw, FakeClient())))
    assert status.code == Code.Error and status.message == "no bind plugin bound pod default/p"
