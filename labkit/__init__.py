"""labkit: a Kubernetes cluster inside your Python process, built to be watched.

Layout (each module's docstring names the Kubernetes code it mirrors and what it leaves out):

- ``store``: etcd's v3 data model (revisions, MVCC, txn, watch, compaction, leases); memory and SQLite.
- ``apiserver``: kube-apiserver over HTTPS: discovery, REST, watch, patch and apply, Table, Status
  errors, authentication, authorization and admission. ``apiserver/registry`` holds one strategy per
  resource.
- ``client``: the components' own API client (what client-go is to the real ones).
- ``kubelet``: the node agent (registration so far).
- ``trace``: every request and watch event, for the widgets.
- ``cluster``: :class:`Cluster`, the facade notebooks use; ``cli``: ``labkit up``.
"""

from labkit.cluster import Cluster

__all__ = ["Cluster"]
