"""labkit.apimachinery.taints: one ``ToleratesTaint`` for the scheduler and the node lifecycle controller.

Before the move the two had their own copies, which disagreed where kube's ``Toleration.ToleratesTaint``
(``k8s.io/api/core/v1/toleration.go``) is clear: an operator other than ``Equal``/``Exists`` tolerates
nothing, and a value that is missing or null is the empty string. These cases pin kube's answer, and
that both components now give it.
"""

from __future__ import annotations

import datetime as dt

import pytest

from labkit.apimachinery.taints import find_matching_untolerated_taint, tolerates_taint, tolerations_tolerate_taint
from labkit.controllers.nodelifecycle import eviction_time
from labkit.scheduler import CycleState, NodeInfo, PodInfo
from labkit.scheduler.plugins import TaintToleration

NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute", "timeAdded": "2020-01-01T12:00:00Z"}
GPU = {"key": "gpu", "value": "a100", "effect": "NoSchedule"}


@pytest.mark.parametrize(("toleration", "taint", "tolerated"), [
    # effect: empty matches every effect, otherwise equal
    ({"key": "gpu", "operator": "Exists"}, GPU, True),
    ({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}, GPU, True),
    ({"key": "gpu", "operator": "Exists", "effect": "NoExecute"}, GPU, False),
    # key: empty (with Exists) matches every key
    ({"operator": "Exists"}, GPU, True),
    ({"operator": "Exists"}, NOT_READY, True),
    ({"key": "tpu", "operator": "Exists"}, GPU, False),
    # Equal (also when the operator is missing or empty) compares values
    ({"key": "gpu", "operator": "Equal", "value": "a100"}, GPU, True),
    ({"key": "gpu", "value": "a100"}, GPU, True),
    ({"key": "gpu", "operator": "", "value": "a100"}, GPU, True),
    ({"key": "gpu", "value": "h100"}, GPU, False),
    # a missing value and a null one are both "" (the node lifecycle copy told them apart)
    ({"key": "node.kubernetes.io/not-ready", "value": None, "effect": "NoExecute"}, NOT_READY, True),
    ({"key": "gpu"}, {"key": "gpu", "value": None, "effect": "NoSchedule"}, True),
    # any other operator tolerates nothing (the node lifecycle copy compared the values)
    ({"key": "gpu", "operator": "Equals", "value": "a100"}, GPU, False),
    ({"key": "gpu", "operator": "Lt", "value": "a100"}, GPU, False),
    # a taint without an effect or a key is still a taint (no KeyError)
    ({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}, {"key": "gpu"}, False),
    ({"operator": "Exists"}, {"effect": "NoSchedule"}, True),
])
def test_tolerates_taint(toleration, taint, tolerated):
    assert tolerates_taint(toleration, taint) is tolerated
    assert tolerations_tolerate_taint([{"key": "other", "operator": "Exists"}, toleration], taint) is tolerated


def test_first_untolerated_taint_among_the_effects_asked_for():
    soft = {"key": "soft", "effect": "PreferNoSchedule"}
    hard = {"key": "hard", "effect": "NoSchedule"}
    assert find_matching_untolerated_taint([soft, GPU, hard], [], ("NoSchedule", "NoExecute")) is GPU
    assert find_matching_untolerated_taint([soft, GPU, hard], [{"key": "gpu", "operator": "Exists"}],
                                           ("NoSchedule", "NoExecute")) is hard
    assert find_matching_untolerated_taint([soft], [], ("NoSchedule", "NoExecute")) is None


def _pod(*tolerations):
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [], "tolerations": list(tolerations)}}


def test_taint_eviction_and_the_scheduler_agree():
    """A toleration with an unknown operator: the controller evicts at once, the scheduler refuses."""
    bogus = {"key": "node.kubernetes.io/not-ready", "operator": "Equals", "effect": "NoExecute", "tolerationSeconds": 60}
    before = dt.datetime.now(dt.timezone.utc)
    due = eviction_time(_pod(bogus), [NOT_READY])
    assert due is not None and due >= before  # not tolerated: due now, not 60 s after the taint was added (2020)

    node = NodeInfo({"metadata": {"name": "n", "labels": {}}, "spec": {"taints": [NOT_READY]},
                     "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"}}})
    status = TaintToleration().filter(CycleState(), PodInfo(_pod(bogus)), node)
    assert status is not None and "untolerated taint" in status.message


def test_a_null_value_tolerates_in_the_controller_too():
    null_value = {"key": "node.kubernetes.io/not-ready", "operator": "Equal", "value": None, "effect": "NoExecute",
                  "tolerationSeconds": 60}
    due = eviction_time(_pod(null_value), [NOT_READY])
    assert due == dt.datetime(2020, 1, 1, 12, 1, tzinfo=dt.timezone.utc)  # timeAdded + 60 s
