"""kube-controller-manager: many controllers in one process, one shared informer cache, one leader.

Mirrors ``cmd/kube-controller-manager/app`` (``NewControllerDescriptors``, ``StartControllers``): the
controllers share one :class:`~labkit.controllers.base.SharedInformers`, and only the replica holding
the ``kube-system/kube-controller-manager`` Lease runs them. Losing the Lease stops the controllers
(kube exits the process instead) and the manager becomes a candidate again. Every controller keeps its
own gate, named after it, so ``cluster.pause()`` / ``step()`` reach each loop. Left out: the cloud,
CSR cleaner, attach/detach and volume expansion, and TTL-after-finished controllers.
"""

from __future__ import annotations

import asyncio

from labkit.client import Client
from labkit.component import Component
from labkit.controllers.base import Controller, SharedInformers
from labkit.controllers.bootstrapsigner import BootstrapSigner
from labkit.controllers.config import ControllerManagerConfig
from labkit.controllers.cronjob import CronJobController
from labkit.controllers.csrapproving import CSRApprovingController
from labkit.controllers.csrsigning import CSRSigningController
from labkit.controllers.daemonset import DaemonSetsController
from labkit.controllers.deployment import DeploymentController
from labkit.controllers.endpoints import EndpointsController
from labkit.controllers.endpointslice import EndpointSliceController
from labkit.controllers.garbagecollector import GarbageCollector
from labkit.controllers.job import JobController
from labkit.controllers.namespace import NamespaceController
from labkit.controllers.nodeipam import NodeIpamController
from labkit.controllers.nodelifecycle import NodeLifecycleController
from labkit.controllers.persistentvolume import PersistentVolumeController
from labkit.controllers.podautoscaler import HorizontalController
from labkit.controllers.podgc import PodGCController
from labkit.controllers.replicaset import ReplicaSetController
from labkit.controllers.replication import ReplicationManager
from labkit.controllers.resourcequota import ResourceQuotaController
from labkit.controllers.rootcacertpublisher import RootCACertPublisher
from labkit.controllers.serviceaccount import ServiceAccountsController
from labkit.controllers.statefulset import StatefulSetController
from labkit.controllers.tokencleaner import TokenCleaner
from labkit.controllers.volumeprotection import PVCProtectionController, PVProtectionController
from labkit.leaderelection import LeaderElector
from labkit.trace import Trace

#: controller names as ``--controllers`` spells them
CONTROLLERS: dict[str, type[Controller]] = {
    "replicaset": ReplicaSetController,
    "deployment": DeploymentController,
    "job": JobController,
    "endpoint": EndpointsController,
    "endpointslice": EndpointSliceController,
    "namespace": NamespaceController,
    "garbagecollector": GarbageCollector,
    "serviceaccount": ServiceAccountsController,
    "nodelifecycle": NodeLifecycleController,
    "nodeipam": NodeIpamController,
    "podgc": PodGCController,
    "resourcequota": ResourceQuotaController,
    "root-ca-cert-publisher": RootCACertPublisher,
    "bootstrapsigner": BootstrapSigner,  # off by default in kube; kubeadm turns both on
    "tokencleaner": TokenCleaner,
    "csrapproving": CSRApprovingController,
    "csrsigning": CSRSigningController,
    "horizontalpodautoscaling": HorizontalController,
    # the workload controllers of issue 16
    "daemonset": DaemonSetsController,
    "replicationcontroller": ReplicationManager,
    "cronjob": CronJobController,
    # storage and StatefulSets (issue 16)
    "persistentvolume-binder": PersistentVolumeController,
    "pvc-protection": PVCProtectionController,
    "pv-protection": PVProtectionController,
    "statefulset": StatefulSetController,
}


class ControllerManager(Component):
    """Runs ``controllers`` (names from :data:`CONTROLLERS`; default all) while it leads."""

    name = "kube-controller-manager"

    def __init__(self, client: Client, *, controllers: list[str] | None = None,
                 config: ControllerManagerConfig | None = None, identity: str = "") -> None:
        super().__init__(client)
        self.config = config or ControllerManagerConfig()
        unknown = set(controllers or ()) - set(CONTROLLERS)
        if unknown:
            raise ValueError(f"unknown controllers {sorted(unknown)}: choose from {sorted(CONTROLLERS)}")
        self.informers = SharedInformers(client)
        self.controllers = {n: CONTROLLERS[n](client, informers=self.informers, config=self.config)
                            for n in controllers or CONTROLLERS}
        for controller in self.controllers.values():
            self.gates.extend(controller.gates)
        self.elector = LeaderElector(client, name="kube-controller-manager", identity=identity,
                                     lease_duration=self.config.lease_duration,
                                     renew_deadline=self.config.renew_deadline,
                                     retry_period=self.config.retry_period) if self.config.leader_elect else None

    @property
    def is_leader(self) -> bool:
        return self.elector.is_leader if self.elector is not None else True

    def attach_trace(self, trace: Trace) -> None:
        super().attach_trace(trace)
        for controller in self.controllers.values():
            controller.attach_trace(trace)

    async def run(self) -> None:
        if self.elector is None:
            await self._start_controllers()
        else:
            self.spawn(self.elector.run(self._start_controllers, self._stop_controllers), "leaderelection")

    async def _start_controllers(self) -> None:
        for controller in self.controllers.values():
            controller.setup()
        await self.informers.start(self.spawn)  # the informers belong to the manager, not one controller
        for controller in self.controllers.values():
            await controller.run()

    async def _stop_controllers(self) -> None:
        for controller in self.controllers.values():
            await controller.stop_workers()

    async def stop(self) -> None:
        for task in list(self._tasks):  # leader election first: it releases the Lease and stops the workers
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for controller in self.controllers.values():  # flush their events while the client is open
            await controller.stop()
        await super().stop()
