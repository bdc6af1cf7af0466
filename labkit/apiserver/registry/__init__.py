"""Each resource's own code: its strategy, and beside it its storage when it has storage of its own.

Mirrors ``k8s.io/kubernetes/pkg/registry/<group>/<resource>`` (``strategy.go`` and ``storage/``) with
the parts of ``pkg/apis/<group>`` (``v1/defaults.go``, ``validation``) and of
``pkg/printers/internalversion/printers.go`` that belong to that resource. What every resource
shares lives elsewhere: the ``Strategy`` base and the Table helpers in ``labkit/apiserver/strategy.py``,
ObjectMeta validation in ``labkit/apiserver/validation.py``, the generic store in
``labkit/apiserver/storage.py``, and field errors, names, labels, selectors, quantities, pod
readiness and the QoS class in ``labkit/apimachinery``.

What goes where:

- ``<resource>.py``: a resource that the generic store serves with its strategy alone. The module
  holds the resource's defaulting, validation and printing and ends with ``STRATEGY`` (``rbac``,
  which serves four kinds, with one per kind: ``ROLE`` ...): ``configmap``, ``secret``, ``node``,
  ``endpoints``, ``endpointslice``, ``event``, ``lease``, ``priorityclass``, ``rbac``,
  ``replicaset``, ``deployment``, ``job``, ``resourcequota``, ``limitrange``.
- ``<resource>/``: a resource with storage of its own (a ``Registry`` subclass or a subresource
  handler), split as kube splits it: ``strategy.py`` (``strategy.go``, with the defaulting,
  validation and printing) and ``storage.py`` (``storage/``). ``__init__.py`` exports the strategy's
  names, so ``registry.<resource>.STRATEGY`` reads the same for both kinds of resource. These are
  ``service`` (ClusterIP and NodePort allocation), ``namespace`` (deletion that leaves it
  Terminating, ``/finalize``), ``serviceaccount`` (``/token``) and ``certificatesigningrequest`` (the
  requester filled in on create, ``/status`` and ``/approval``).
- ``pod/`` splits its strategy further, file by file as kube has it: ``defaults.py``
  (``pkg/apis/core/v1/defaults.go``), ``validation.py`` (``pkg/apis/core/validation``),
  ``printing.py`` (``printPod``), ``strategy.py`` (``pkg/registry/core/pod/strategy.go``) and
  ``storage.py`` (graceful deletion, ``binding``, ``eviction``). The QoS class is
  ``labkit/apimachinery/podutil.py``; the streaming subresources (log, exec, attach, portforward)
  are ``labkit/apiserver/streaming``.
- ``horizontalpodautoscaler/``: a resource served in two versions (``autoscaling/v2``, stored, and
  ``v1``): ``strategy.py`` (defaulting, validation, printing of v2) and ``conversion.py`` (v1 to
  and from v2, as ``pkg/apis/autoscaling/v1/conversion.go``). It has no storage of its own: the
  generic store keeps v2, and ``labkit/apiserver/versions.py`` serves v1 from it (a ``Resource``
  whose ``conversion`` is set).
- ``eventsv1.py``: the same, across groups: ``events.k8s.io/v1`` Events are core/v1's (``event.py``)
  converted, their ``Conversion`` naming the storage's group and the checks a create makes first.
- ``scale.py``: the ``/scale`` subresource that Deployments and ReplicaSets share (kube keeps a copy
  in each one's storage). ``reviews.py``: the self reviews (``kubectl auth can-i``, ``kubectl auth
  whoami``), create-only resources with no strategy and nothing stored.

One rule keeps the imports acyclic: a strategy never imports storage. ``labkit/apiserver/resources.py``
imports every strategy, and the generic store and the request handlers that storage builds on import
``resources.py``; so neither a strategy module nor a package's ``__init__.py`` imports a
``storage.py``. ``labkit/apiserver/rest.py`` does: it wires each storage to its resource and
subresources.

Adding a resource:

1. Write its strategy in ``registry/<resource>.py``: a ``Strategy`` subclass (``kind``, ``default``,
   ``validate``, ``columns`` and ``cells`` ...) and ``STRATEGY``, with the kube code it mirrors and
   what it leaves out in the module docstring.
2. Add it to ``RESOURCES`` in ``labkit/apiserver/resources.py`` (group, version, plural, kind, scope,
   short names, subresources): discovery, URL routing and the store keys follow from that entry.
3. If its lists merge by key (strategic merge patch, server-side apply), give its fields to
   ``labkit/apiserver/merge_schema.py``.
4. Only if the generic store is not enough, make it a package: ``strategy.py`` (the module of step 1),
   ``storage.py`` with a ``Registry`` subclass or subresource handlers, and an ``__init__.py`` that
   exports the strategy; then wire the storage in ``REGISTRY_CLASSES`` or ``SUBRESOURCE_HANDLERS``
   in ``labkit/apiserver/rest.py``.
5. Test it beside its neighbours in ``tests/registry_core`` or ``tests/registry_apps``.
"""
