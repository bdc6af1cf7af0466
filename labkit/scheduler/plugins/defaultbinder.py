"""DefaultBinder: bind the pod to the chosen node with ``POST pods/NAME/binding``.

Mirrors ``pkg/scheduler/framework/plugins/defaultbinder``: the Binding names the pod (and its UID,
so a pod deleted and recreated under the same name is not bound by mistake) and targets the Node.
"""

from __future__ import annotations

from labkit.client import APIStatusError, resource_path
from labkit.scheduler.framework import CycleState, Handle, Status
from labkit.scheduler.interface import BindPlugin
from labkit.scheduler.types import PodInfo


class DefaultBinder(BindPlugin):
    name = "DefaultBinder"

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str, handle: Handle) -> Status:
        assert handle.client is not None
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
        try:
            await handle.client.create(resource_path("v1", "pods", namespace=pod.namespace, name=pod.name,
                                                     subresource="binding"), binding)
        except APIStatusError as e:
            return Status.error(str(e))
        return Status()
