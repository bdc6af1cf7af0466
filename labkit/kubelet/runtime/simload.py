"""A load generator for sim clusters: the CPU a Service's clients would cause, spread over its pods.

labkit's own (KWOK simulates no usage): ``cluster.set_sim_load("shop", selector="app=web",
cpu="1200m")`` puts 1.2 cores of work on the running pods of ``app=web``, an equal share each, on top
of what their containers use on their own (:mod:`labkit.kubelet.runtime.sim`), split evenly between
a pod's regular containers. A pod that starts or stops spreads the load again at that moment, so two
more replicas take a share each and every pod's CPU goes down, as a HorizontalPodAutoscaler expects
of a real load behind a Service. CPU only: memory stays what each container uses on its own. Each
start or stop of a container looks at every pod of the cluster while a load is set.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import TYPE_CHECKING

from labkit.apimachinery.labels import LabelSelector, parse_label_selector
from labkit.apimachinery.resource import parse_quantity

if TYPE_CHECKING:  # the sim runtime imports this module
    from labkit.kubelet.runtime.sim import SimRuntime


@dataclasses.dataclass(frozen=True, slots=True)
class Load:
    namespace: str
    selector: LabelSelector
    cores: Fraction


class SimLoads:
    """The loads of one sim cluster, shared by its nodes' runtimes."""

    def __init__(self) -> None:
        self.runtimes: list[SimRuntime] = []
        self.loads: dict[str, Load] = {}

    def set(self, name: str, *, namespace: str, selector: str, cpu: str | None) -> int:
        """Put ``cpu`` (a quantity) of work on the pods of ``selector`` in ``namespace``, under ``name``
        (setting it again replaces it; ``cpu=None`` stops it). Returns how many pods share it now."""
        if cpu is None:
            self.loads.pop(name, None)
        else:
            self.loads[name] = Load(namespace, parse_label_selector(selector), parse_quantity(cpu).amount)
        self.spread()
        load = self.loads.get(name)
        return len(self._pods(load)) if load else 0

    def _pods(self, load: Load) -> list[list[tuple[SimRuntime, str]]]:
        """The containers of each running pod the load falls on: (runtime, container id) lists."""
        return [[(runtime, cid) for cid in cids] for runtime in self.runtimes
                for namespace, labels, cids in runtime.running_pods()
                if namespace == load.namespace and load.selector.matches(labels)]

    def spread(self) -> None:
        """Give every pod its share of each load now (its containers' CPU time so far stays theirs)."""
        shares: dict[SimRuntime, dict[str, Fraction]] = {runtime: {} for runtime in self.runtimes}
        for load in self.loads.values():
            pods = self._pods(load)
            for containers in pods:
                for runtime, cid in containers:
                    shares[runtime][cid] = shares[runtime].get(cid, Fraction(0)) + load.cores / len(pods) / len(
                        containers)
        for runtime, loads in shares.items():
            runtime.set_loads(loads)
