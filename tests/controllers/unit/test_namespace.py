"""The namespace controller alone (``pkg/controller/namespace``): a Terminating namespace is emptied
resource by resource, then finalized."""

from __future__ import annotations

from labkit.apiserver.resources import RESOURCES
from labkit.controllers.namespace import NamespaceController

from .objects import configmap, namespace, pod

#: every namespaced resource discovery lists with deletecollection: what the controller empties
DELETABLE = {r.plural for r in RESOURCES if r.namespaced and r.stored and "deletecollection" in r.verbs}


def test_a_terminating_namespace_is_emptied_then_finalized(harness):
    h = harness(NamespaceController, [namespace("doomed", terminating=True), namespace("kept"),
                                      configmap("cm", "doomed"), pod("p", namespace="doomed"), configmap("cm", "kept")])
    assert sorted(h.drain()) == ["doomed", "kept"]
    writes = h.writes()
    assert {a.plural for a in writes if a.verb == "deletecollection"} == DELETABLE
    assert {a.namespace for a in writes if a.verb == "deletecollection"} == {"doomed"}
    assert {a.plural for a in h.actions() if a.verb == "list"} == DELETABLE, "each emptied collection is counted"
    finalize = writes[-1]
    assert tuple(finalize)[:4] == ("update", "namespaces/finalize", "", "doomed")
    assert finalize.body["spec"] == {"finalizers": []}
    assert [c["metadata"]["namespace"] for c in h.objects("v1", "configmaps")] == ["kept"]
    assert [n["metadata"]["name"] for n in h.objects("v1", "namespaces")] == ["kept"], \
        "the API server removes a finalized namespace"
    assert h.waiting() == []


def test_content_that_stays_brings_the_namespace_back_later(harness):
    """A pod in its grace period or an object with a finalizer is still there: not finalized yet."""
    h = harness(NamespaceController, [namespace("doomed", terminating=True),
                                      configmap("held", "doomed", finalizers=["example.com/hold"])])
    h.drain()
    assert not [a for a in h.writes() if a.resource == "namespaces/finalize"]
    assert h.waiting() == [("doomed", 1.0)]
    (held,) = h.objects("v1", "configmaps")
    h.run(h.client.update("/api/v1/namespaces/doomed/configmaps/held",
                          {**held, "metadata": {**held["metadata"], "finalizers": []}}))
    h.clear()
    assert h.drain(advance=1.0) == ["doomed"]
    assert h.writes()[-1].resource == "namespaces/finalize"


def test_a_collection_the_server_will_not_delete_is_skipped(harness):
    from labkit.testing import fail
    h = harness(NamespaceController, [namespace("doomed", terminating=True)])
    h.client.prepend_reactor("deletecollection", "leases", fail(405))
    h.client.prepend_reactor("deletecollection", "roles", fail(404))
    h.drain()
    assert h.writes()[-1].resource == "namespaces/finalize" and h.waiting() == []


def test_namespaces_not_being_deleted_or_already_finalized_are_left_alone(harness):
    finalized = namespace("done", terminating=True)
    finalized["spec"]["finalizers"] = []
    finalized["metadata"]["finalizers"] = ["example.com/other"]  # kept in the API server by someone else's finalizer
    h = harness(NamespaceController, [namespace("active"), finalized])
    assert sorted(h.drain()) == ["active", "done"]
    assert h.client.actions() == []


def test_a_terminating_namespace_whose_finalizers_are_null_is_left_alone(harness):
    """``spec.finalizers: null`` (nothing left to finalize) is no error: nothing to do."""
    doomed = namespace("doomed", terminating=True)
    doomed["spec"] = {"finalizers": None}
    h = harness(NamespaceController, [doomed])
    assert h.drain() == ["doomed"]
    assert h.writes() == [] and h.waiting() == []
