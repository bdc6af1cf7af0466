"""Per-resource strategies, one module per resource as in ``k8s.io/kubernetes/pkg/registry/<group>/<resource>``."""
