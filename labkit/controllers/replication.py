"""The ReplicationController manager: the ReplicaSet controller run for core/v1 ReplicationControllers
(``pkg/controller/replication``).

Kube builds it the same way: ``NewReplicationManager`` is the ReplicaSet controller's
``NewBaseController`` given the ReplicationController kind, with adapters that convert each
ReplicationController to a ReplicaSet. Here the subclass only names the kind, its API version and
resource, and reads ``spec.selector`` as the map of labels it is (``labels.SelectorFromSet``: equality
only). Events come from ``replication-controller``, kube's event source for it (the controller's
``--controllers`` name is ``replicationcontroller``).
"""

from __future__ import annotations

from labkit.apimachinery.labels import LabelSelector, selector_from_validated_set
from labkit.apimachinery.meta import Obj
from labkit.controllers.replicaset import ReplicaSetController


class ReplicationManager(ReplicaSetController):
    name = "replication-controller"
    resource = "replicationcontrollers"
    kind = "ReplicationController"
    api_version = "v1"

    def selector_of(self, rs: Obj) -> LabelSelector:
        return selector_from_validated_set(rs["spec"].get("selector") or {})
