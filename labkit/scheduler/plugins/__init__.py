"""The in-tree plugins, one module each, and the default profile's plugin list and weights.

Mirrors ``pkg/scheduler/framework/plugins/registry.go`` and ``apis/config/v1/default_plugins.go``:
the default profile enables these plugins, and the Score weights are kube-scheduler's
(TaintToleration 3; NodeAffinity, PodTopologySpread, InterPodAffinity 2; the rest 1).
"""

from __future__ import annotations

from typing import Any

from labkit.scheduler.plugins.defaultbinder import DefaultBinder
from labkit.scheduler.plugins.defaultpreemption import DefaultPreemption
from labkit.scheduler.plugins.imagelocality import ImageLocality
from labkit.scheduler.plugins.interpodaffinity import InterPodAffinity
from labkit.scheduler.plugins.nodeaffinity import NodeAffinity
from labkit.scheduler.plugins.nodename import NodeName
from labkit.scheduler.plugins.noderesources import NodeResourcesBalancedAllocation, NodeResourcesFit
from labkit.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from labkit.scheduler.plugins.podtopologyspread import PodTopologySpread
from labkit.scheduler.plugins.tainttoleration import TaintToleration

DEFAULT_WEIGHTS = {"TaintToleration": 3, "NodeAffinity": 2, "PodTopologySpread": 2, "InterPodAffinity": 2,
                   "NodeResourcesFit": 1, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}


def default_plugins() -> list[Any]:
    """Fresh instances, in the default profile's order (filters run in this order)."""
    return [NodeUnschedulable(), NodeName(), TaintToleration(), NodeAffinity(), NodeResourcesFit(),
            PodTopologySpread(), InterPodAffinity(), NodeResourcesBalancedAllocation(), ImageLocality(),
            DefaultPreemption(), DefaultBinder()]


__all__ = ["DEFAULT_WEIGHTS", "DefaultBinder", "DefaultPreemption", "ImageLocality", "InterPodAffinity",
           "NodeAffinity", "NodeName", "NodeResourcesBalancedAllocation", "NodeResourcesFit", "NodeUnschedulable",
           "PodTopologySpread", "TaintToleration", "default_plugins"]
