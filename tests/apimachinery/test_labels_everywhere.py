"""One label selector for the API server, the controllers and the scheduler.

The scheduler had its own matcher for ``metav1.LabelSelector`` (pod affinity terms, topology spread
constraints) that accepted what ``metav1.LabelSelectorAsSelector`` refuses: ``Gt``/``Lt`` (which only
node selectors have), ``In`` with no values, bad keys. It now uses kube's conversion, so such a
selector is an error for the pod being scheduled, as in kube-scheduler (PodTopologySpread's PreFilter
returns it as an error; kube-apiserver would not have stored the pod in the first place).
"""

from __future__ import annotations

import pytest

from labkit.apimachinery.labels import SelectorError, label_selector_from_object, selector_from_validated_set
from labkit.apimachinery.validation import dns1123_label_errors, label_value_errors, qualified_name_errors
from labkit.scheduler import CycleState, NodeInfo, PodInfo
from labkit.scheduler.plugins import InterPodAffinity, PodTopologySpread


def test_a_services_selector_is_a_set_selector():
    selector = selector_from_validated_set({"app": "web", "tier": "front"})
    assert str(selector) == "app=web,tier=front"
    assert selector.matches({"app": "web", "tier": "front", "pod-template-hash": "x"})
    assert not selector.matches({"app": "web"})
    assert not selector.matches({"app": "web", "tier": "back"})
    assert selector_from_validated_set({}).matches({"any": "thing"})


def test_conversions_are_remembered_by_content_not_by_object():
    selector = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}
    first = label_selector_from_object(selector)
    assert label_selector_from_object({**selector}) == first
    selector["matchLabels"]["app"] = "db"  # the same dict, changed: a different selector
    assert str(label_selector_from_object(selector)) == "app=db,tier in (a)"
    bad = {"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]}
    for _ in range(2):  # errors are raised every time, never remembered as a selector
        with pytest.raises(SelectorError, match="values set can't be empty"):
            label_selector_from_object(bad)
    with pytest.raises(TypeError):  # an unhashable value fails without the memo, as it always did
        label_selector_from_object({"matchLabels": {"app": ["web"]}})


def _node(name, *pods):
    node = NodeInfo({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}, "spec": {},
                     "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}})
    for p in pods:
        node.add_pod(p)
    return node


def _pod(name="p", **spec):
    return PodInfo({"metadata": {"name": name, "namespace": "default", "labels": {"app": "web", "gen": "5"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}})


GT = {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["3"]}]}  # a NodeSelector operator only


def test_the_scheduler_refuses_a_selector_kube_refuses():
    """Before, ``gen > 3`` matched the existing pod (gen=5) and the pod was placed beside it."""
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": GT, "topologyKey": "kubernetes.io/hostname"}]}}
    nodes = [_node("a", _pod("existing"))]
    state = CycleState()
    state.all_nodes = nodes
    with pytest.raises(SelectorError, match='"Gt" is not a valid label selector operator'):
        InterPodAffinity().pre_filter(state, _pod(affinity=affinity), nodes)

    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": GT}]
    with pytest.raises(SelectorError, match='"Gt" is not a valid label selector operator'):
        PodTopologySpread().pre_filter(CycleState(), _pod(topologySpreadConstraints=spread), nodes)


def test_the_scheduler_matches_valid_selectors_as_before():
    selector = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}]}}
    nodes = [_node("a")]
    state = CycleState()
    state.all_nodes = nodes
    assert InterPodAffinity().pre_filter(state, _pod(affinity=affinity), nodes) is None
    # no pod matches yet, but the pod matches its own term: it may start the group
    assert InterPodAffinity().filter(state, _pod(affinity=affinity), nodes[0]) is None


@pytest.mark.parametrize(("check", "value", "errors"), [
    (dns1123_label_errors, "web-1", []),
    (dns1123_label_errors, "Web_1", ["a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                                     "or '-', and must start and end with an alphanumeric character (e.g. 'my-name', "
                                     " or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"]),
    (label_value_errors, "x" * 64, ["must be no more than 63 characters"]),
    (qualified_name_errors, "example.com/", ["name part must be non-empty"]),
    (qualified_name_errors, "a/b/c", ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
                                      "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                                      "'my.name',  or '123-abc', regex used for validation is "
                                      "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
                                      "prefix and '/' (e.g. 'example.com/MyName')"]),
])
def test_kube_messages_word_for_word(check, value, errors):
    assert check(value) == errors
