"""kube-controller-manager in Python: the control loops that make the cluster converge.

Layout (one module per ``pkg/controller/<name>`` in kubernetes/kubernetes):

- ``base``: :class:`Controller` (informers + gated work queue + ``sync``/``reconcile``), :class:`Result`,
  :class:`SharedInformers`. Subclass ``Controller`` for your own controller.
- ``manager``: :class:`ControllerManager`, running the controllers below behind leader election.
- ``config``: :class:`ControllerManagerConfig`, the flags with teaching timings.
- ``replicaset``, ``deployment``: pods from templates, rollouts and revisions.
- ``job``: pods that run to completion.
- ``statefulset``: pods with stable names, claims and order.
- ``persistentvolume``, ``volumeprotection``: claims bound to volumes, and the in-use finalizers.
- ``endpoints``, ``endpointslice``: a Service's backends.
- ``namespace``, ``garbagecollector``, ``serviceaccount``: cleanup and defaults.
- ``nodelifecycle``, ``nodeipam``: node health, taints, taint-based eviction, pod CIDRs.
- ``podautoscaler``: the horizontal pod autoscaler: replicas from the resource metrics API, through ``/scale``.
- ``csrapproving``, ``csrsigning``: a kubelet's client CertificateSigningRequest approved after a
  SubjectAccessReview, and the kubelet signers' approved requests signed with the cluster CA.

Every controller talks only to the API server, as ``system:kube-controller-manager``, and reads the time
from its clock; ``labkit.testing.Harness`` runs one on a fake client, fake informers and a fake clock.
"""

from labkit.controllers.base import Controller, Result, SharedInformers
from labkit.controllers.config import ControllerManagerConfig
from labkit.controllers.manager import CONTROLLERS, ControllerManager

__all__ = ["CONTROLLERS", "Controller", "ControllerManager", "ControllerManagerConfig", "Result", "SharedInformers"]
