"""labkit's kube-scheduler: watch pending pods, pick a node for each, bind it — and say why.

Mirrors ``pkg/scheduler`` in kubernetes/kubernetes. Layout:

- ``types``: ``Resource``, ``PodInfo``, ``NodeInfo`` (a node with its pods' summed requests).
- ``interface``: the extension points as Protocols (``FilterPlugin``, ``ScorePlugin`` ...) plugins declare.
- ``framework``: ``Status``/``Code``, ``CycleState``, ``Handle``, ``FitError``, and running the points.
- ``plugins/``: one module per in-tree plugin, and the default profile's list and weights.
- ``profile``: ``Profile`` = a schedulerName + plugins + weights.
- ``config``: ``KubeSchedulerConfiguration`` files (``Cluster.configure_scheduler``): kube's defaults,
  merge and validation messages, into profiles.
- ``cache``, ``queue``: the informer-fed cache and the scheduling queue (activeQ, backoffQ,
  unschedulablePods).
- ``schedule_one``: the algorithm (filter, score, select host).
- ``scheduler``: the component (informers, event handlers, binding, events, pod conditions).
- ``explain``: the record of every attempt (``Scheduler.explain("ns/pod")``).
- ``custom``: ``FunctionScheduler``, a scheduler from one Python function.
"""

from labkit.scheduler.custom import FunctionScheduler
from labkit.scheduler.explain import Attempt, FilterVerdict, PluginScore
from labkit.scheduler.framework import Code, CycleState, FitError, Framework, Handle, Status
from labkit.scheduler.interface import (
                                        BindPlugin,
                                        FilterPlugin,
                                        PermitPlugin,
                                        Plugin,
                                        PostBindPlugin,
                                        PostFilterPlugin,
                                        PreBindPlugin,
                                        PreFilterExtensions,
                                        PreFilterPlugin,
                                        PreScorePlugin,
                                        ReservePlugin,
                                        ScoreExtensions,
                                        ScorePlugin,
)
from labkit.scheduler.plugins import DEFAULT_WEIGHTS, default_plugins
from labkit.scheduler.profile import Profile
from labkit.scheduler.scheduler import Scheduler
from labkit.scheduler.types import NodeInfo, PodInfo, Resource

__all__ = ["DEFAULT_WEIGHTS", "Attempt", "BindPlugin", "Code", "CycleState", "FilterPlugin", "FilterVerdict",
           "FitError", "Framework", "FunctionScheduler", "Handle", "NodeInfo", "PermitPlugin", "Plugin", "PluginScore",
           "PodInfo", "PostBindPlugin", "PostFilterPlugin", "PreBindPlugin", "PreFilterExtensions", "PreFilterPlugin",
           "PreScorePlugin", "Profile", "ReservePlugin", "Resource", "Scheduler", "ScoreExtensions", "ScorePlugin",
           "Status", "default_plugins"]
