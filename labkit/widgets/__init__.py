"""Notebook widgets that show the cluster working: each step, live, offline.

Layout:

- ``base``: :class:`LiveWidget` (an ipywidgets ``VBox`` with an HTML view, throttled refresh from a
  background thread, deterministic text reprs, a static HTML rendering) and small helpers;
- ``story``: the story of one action, correlated from ``cluster.trace`` by object;
- ``cluster_view``: control plane and nodes with their pods, coloured by phase;
- ``timeline``: a story as a sequence diagram across components, with play/step/slider replay;
- ``scheduler_view``: nodes × plugins for one pod's scheduling attempt;
- ``store_view``: the store's keys and revisions, a value as YAML, the watch feed, compaction;
- ``pod_lifecycle``: one pod's phase, conditions and container states over time;
- ``service_traffic``: connections through a Service and which endpoint answered;
- ``node_health``: node Leases, heartbeats, Ready transitions and taints;
- ``resources``: nodes' allocatable against requested and used, pods' usage against request and
  limit, autoscalers' replicas over time against their target;
- ``control_plane``: an HA control plane's members: load balancer, etcd Raft state, Leases, requests;
- ``network_view``: the pod network graph drawn: nodes, their podCIDRs and routes, pods with their IPs.

A view of one moment (cluster, timeline, scheduler, network) is a snapshot unless made live; a view
that records as things happen (pod lifecycle, node health, traffic, resources, store feed, control
plane) is live, and each says which it is (:mod:`labkit.widgets.base`).
"""

from labkit.widgets.base import PHASE_COLORS, LiveWidget, esc, esc_wrap, on_loop, stored_objects, table
from labkit.widgets.cluster_view import ClusterView
from labkit.widgets.control_plane import ControlPlaneView
from labkit.widgets.network_view import NetworkView
from labkit.widgets.node_health import NodeHealth
from labkit.widgets.pod_lifecycle import PodLifecycle
from labkit.widgets.resources import ResourcesView
from labkit.widgets.scheduler_view import SchedulerView
from labkit.widgets.service_traffic import ServiceTraffic, send_requests
from labkit.widgets.store_view import StoreView
from labkit.widgets.story import ObjectRef, Step, Story, build_story, ref_of, story
from labkit.widgets.timeline import Timeline

__all__ = ["PHASE_COLORS", "ClusterView", "ControlPlaneView", "LiveWidget", "NetworkView", "NodeHealth", "ObjectRef",
           "PodLifecycle", "ResourcesView", "SchedulerView", "ServiceTraffic", "Step", "Story", "StoreView", "Timeline",
           "build_story", "esc", "esc_wrap", "on_loop", "ref_of", "send_requests", "story", "stored_objects", "table"]
