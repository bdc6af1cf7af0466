"""What every component shares: the vocabulary of Kubernetes objects, written once.

Mirrors ``k8s.io/apimachinery`` and the small shared helpers of kubernetes and its staging repos
that the API server, the scheduler, the controllers and the kubelet all use. Each helper exists
once, with kube's behaviour; a component imports it from here, never from another component (the
scheduler does not reach into the API server for a label selector, nor the Endpoints controller
into the ReplicaSet controller to ask whether a pod is ready).

- ``meta``: :data:`~labkit.apimachinery.meta.Obj`, the one type of every object; owner references
  (``GetControllerOf``, ``NewControllerRef``); ``FindStatusCondition``.
- ``timeutil``: ``metav1.Time`` and ``MicroTime`` on the wire (RFC 3339 in UTC, to the second or
  the microsecond), now, parsing.
- ``labels``: label selectors (``labels.Parse``, ``LabelSelectorAsSelector``, set-based
  requirements, ``SelectorFromValidatedSet``); ``fields``: field selectors (``fields.ParseSelector``).
- ``validation``: field errors (``field.Invalid`` ...) and the checks of DNS-1123/1035 names,
  qualified names (label keys) and label values, with kube's messages.
- ``resource``: quantities (``resource.Quantity``: ``500m``, ``512Mi``).
- ``podutil``: ``IsPodReady``, ``IsPodAvailable``, the QoS class; ``nodeutil``: a node's conditions;
  ``taints``: ``ToleratesTaint``, ``FindMatchingUntoleratedTaint``.
- ``certificates``: ``ParseCSR``, the kubelet signers' rules (``IsKubeletClientCSR`` ...), the
  approval conditions of a CSR.

Left out: runtime schemes, conversion and typed objects (labkit keeps JSON dicts), ``intstr``,
``util/sets`` and ``util/wait`` (Python has them built in).
"""
