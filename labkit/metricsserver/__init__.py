"""metrics-server: CPU and memory of nodes and pods for ``kubectl top`` and the HPA.

Mirrors ``kubernetes-sigs/metrics-server``: it scrapes every node's kubelet ``/metrics/resource``
each ``--metric-resolution`` (:mod:`.server`, :mod:`.decode`), keeps the last two points of each node
and container and turns them into a rate (:mod:`.storage`), and serves ``metrics.k8s.io/v1beta1``
``nodes`` and ``pods`` (:mod:`.api`). kube-apiserver reaches it through the ``APIService``
``v1beta1.metrics.k8s.io`` (:mod:`labkit.apiserver.aggregator`). :mod:`.deploy` installs it as its
``components.yaml`` does.

labkit runs it in the cluster's process: it reaches the kubelets through their in-process API and the
API server calls its REST handler in-process instead of proxying to a ``kube-system/metrics-server``
Service (as it proxies any other APIService's group to its Service). Left out: TLS to the kubelets,
``--kubelet-*`` address options, its own metrics and health endpoints, the ``metrics.k8s.io/v1beta1`` watch.
"""

from labkit.metricsserver.server import MetricsServer

__all__ = ["MetricsServer"]
