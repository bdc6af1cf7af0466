"""labkit: a Kubernetes cluster inside your Python process, built to be watched.

Data flows one way, as in Kubernetes: notebook / kubectl → API server → store → watch → component →
runtime → status back through the API server. No component reaches around the API server.

Layout (each module's docstring names the Kubernetes code it mirrors and what it leaves out):

- ``apimachinery``: what every component shares, written once with kube's behaviour: the object type
  ``Obj``, owner references, times, label and field selectors, name and label validation,
  quantities, pod readiness and QoS, taint toleration. Components import helpers from here, never
  from one another.
- ``store``: etcd's v3 data model (revisions, MVCC, txn, watch, compaction, leases); memory, SQLite,
  and a real etcd (``store/etcd.py`` through its JSON gateway; ``store/etcd_member.py`` runs one
  member for a cluster, as kubeadm does).
- ``apiserver``: kube-apiserver over HTTPS: discovery, REST, watch (with a watch cache), patch and
  apply, Table, Status errors, authentication, authorization and admission; ``apiserver/registry`` holds
  one strategy per resource with its storage beside it (``registry/pod/`` split as kube splits it:
  defaults, validation, printing, strategy, storage), ``apiserver/streaming`` logs, exec, attach and
  port-forward.
- ``scheduler``: kube-scheduler: queue, framework, one file per plugin, explanations.
- ``controllers``: kube-controller-manager: one file per controller, and the ``Controller`` base
  learners write their own with.
- ``kubelet``: the node agent, over a CRI-shaped ``runtime`` (docker, process, sim).
- ``proxy``: kube-proxy in userspace mode, and the cluster DNS; ``network``: the address plan.
- ``client``, ``informer``, ``workqueue``, ``leaderelection``, ``events``: what client-go is to the
  real components; ``clock``: the time they read (``k8s.io/utils/clock``).
- ``testing``: client-go's fake clientset, fake informers, a fake clock and a driver, to test one
  controller without a cluster.
- ``trace``: every request, watch event and decision, for the ``widgets``.
- ``bootstrap``: kubeadm's bootstrap tokens: publishing ``cluster-info``, ``token create``, the join
  command and ``join``'s token discovery.
- ``cluster``: :class:`Cluster`, the facade notebooks use; ``controlplane``: the members of an HA
  control plane; ``kubeadm``: ``labkit init`` and ``labkit join`` (kubeadm's phases); ``cli``: ``labkit up``,
  ``init`` and ``join``;
  ``exercises``: the course's auto-checked exercises.
"""

import logging

from labkit.cluster import Cluster

# A library's loggers stay silent unless the application configures logging (a notebook does not):
# a member killed on purpose must not print warnings under the learner's cell.
logging.getLogger("labkit").addHandler(logging.NullHandler())

__all__ = ["Cluster"]
