"""The LimitRanger admission plugin and the LimitRange strategy: what a LimitRange fills into a pod
(and the annotation that says so), and kube-apiserver's exact words for each pod it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.apiserver import errors
from labkit.apiserver.admission import Attributes
from labkit.apiserver.admission_limitranger import ANNOTATION, LimitRanger
from labkit.apiserver.registry.limitrange import STRATEGY
from labkit.apiserver.resources import lookup


def limit_range(*items: dict[str, Any]) -> dict[str, Any]:
    lr = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr", "namespace": "ns"},
          "spec": {"limits": list(items)}}
    STRATEGY.default(lr)
    return lr


def container(name: str, requests: dict | None = None, limits: dict | None = None) -> dict[str, Any]:
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    return {"name": name, "image": "nginx", "resources": resources}


def pod(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}, "spec": spec}


def admit(ranges: list[dict], obj: dict) -> dict:
    """Run the plugin as the chain does: admit, then validate; the pod as it would be stored."""
    plugin = LimitRanger(lambda ns: ranges if ns == "ns" else [])
    resource = lookup("", "v1", "pods")
    assert resource is not None
    attrs = Attributes("CREATE", resource, "", "ns", "p", None, False)
    plugin.admit(attrs, obj, None)
    plugin.validate(attrs, obj, None)
    return obj


DEFAULTS = limit_range({"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
                        "defaultRequest": {"cpu": "100m"}})


def test_missing_requests_and_limits_are_filled_in_and_the_annotation_says_which():
    p = admit([DEFAULTS], pod(container("app"), container("side", limits={"memory": "64Mi"}),
                              init=(container("setup", requests={"cpu": "50m"}),)))
    app, side = p["spec"]["containers"]
    assert app["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"}}
    assert side["resources"] == {"requests": {"cpu": "100m", "memory": "64Mi"},
                                 "limits": {"cpu": "500m", "memory": "64Mi"}}
    assert p["metadata"]["annotations"] == {ANNOTATION: (
        "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app; "
        "cpu request for container side; cpu limit for container side; "
        "memory request for init container setup; cpu, memory limit for init container setup")}


def test_a_limit_alone_is_the_request_before_the_limit_range_is_applied():
    """kube decodes with defaults (request = limit) before admission; LimitRanger then adds nothing."""
    p = admit([DEFAULTS], pod(container("app", limits={"cpu": "1", "memory": "1Gi"})))
    assert p["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert ANNOTATION not in p["metadata"].get("annotations", {})


def test_no_limit_range_changes_nothing():
    p = admit([], pod(container("app")))
    assert p["spec"]["containers"][0]["resources"] == {} and "annotations" not in p["metadata"]


BOUNDS = limit_range({"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"},
                      "maxLimitRequestRatio": {"cpu": "4"}, "default": {"memory": "128Mi"}})


@pytest.mark.parametrize(("ranges", "container_", "message"), [
    ([BOUNDS], container("a", {"cpu": "50m"}, {"cpu": "100m"}),
     "minimum cpu usage per Container is 100m, but request is 50m."),
    ([BOUNDS], container("a", {"cpu": "50m"}),  # the ratio fails too: nothing gave the container a cpu limit
     "[minimum cpu usage per Container is 100m, but request is 50m., "
     "cpu max limit to request ratio per Container is 4, but no limit is specified or limit is 0.]"),
    ([BOUNDS], container("a", {"cpu": "200m"}, {"cpu": "1", "memory": "2Gi"}),
     "[maximum memory usage per Container is 1Gi, but limit is 2Gi., "
     "cpu max limit to request ratio per Container is 4, but provided ratio is 5.000000.]"),
    ([limit_range({"type": "Container", "maxLimitRequestRatio": {"memory": "2"}})], container("a"),
     "memory max limit to request ratio per Container is 2, but no request is specified or request is 0."),
    ([limit_range({"type": "Container", "maxLimitRequestRatio": {"memory": "2"}})],
     container("a", {"memory": "1Gi"}),
     "memory max limit to request ratio per Container is 2, but no limit is specified or limit is 0."),
    ([limit_range({"type": "Pod", "max": {"cpu": "1"}})], container("a", {"cpu": "500m"}),
     "maximum cpu usage per Pod is 1.  No limit is specified."),
    ([limit_range({"type": "Pod", "min": {"memory": "1Gi"}})], container("a"),
     "minimum memory usage per Pod is 1Gi.  No request is specified."),
])
def test_refusals_are_403_with_kube_apiservers_words(ranges, container_, message):
    with pytest.raises(errors.ApiError) as e:
        admit(ranges, pod(container_))
    assert (e.value.code, e.value.reason) == (403, "Forbidden")
    assert e.value.message == f'pods "p" is forbidden: {message}'


def test_a_pod_limit_sums_its_containers():
    lr = limit_range({"type": "Pod", "max": {"cpu": "1"}, "min": {"cpu": "300m"}})
    admit([lr], pod(container("a", {"cpu": "200m"}, {"cpu": "500m"}), container("b", {"cpu": "200m"}, {"cpu": "500m"})))
    with pytest.raises(errors.ApiError) as e:
        admit([lr], pod(container("a", {"cpu": "100m"}, {"cpu": "600m"}), container("b", {"cpu": "100m"},
                                                                                       {"cpu": "600m"})))
    assert e.value.message == ('pods "p" is forbidden: [minimum cpu usage per Pod is 300m, but request is 200m., '
                               "maximum cpu usage per Pod is 1, but limit is 1200m.]")


def test_limit_range_defaults_follow_max_then_default_then_min():
    lr = limit_range({"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"memory": "64Mi"},
                      "default": {"memory": "512Mi"}}, {"type": "Pod", "max": {"cpu": "4"}})
    container_item, pod_item = lr["spec"]["limits"]
    assert container_item["default"] == {"cpu": "2", "memory": "512Mi"}
    assert container_item["defaultRequest"] == {"cpu": "2", "memory": "512Mi"}
    assert pod_item == {"type": "Pod", "max": {"cpu": "4"}}


@pytest.mark.parametrize(("item", "cause"), [
    ({"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}},
     "spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1"),
    ({"type": "Container", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "2"}},
     "spec.limits[0].defaultRequest[cpu]: Invalid value: \"2\": default request value 2 is greater than default "
     "limit value 1"),
    ({"type": "Container", "maxLimitRequestRatio": {"cpu": "500m"}},
     "spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: \"500m\": ratio 500m is less than 1"),
    ({"type": "Pod", "default": {"cpu": "1"}},
     "spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'"),
    ({"type": "Node"}, 'spec.limits[0].type: Invalid value: "Node": must be a standard limit type or fully qualified'),
    ({"type": "Container", "max": {"gpu": "1"}},
     'spec.limits[0].max[gpu]: Invalid value: "gpu": must be a standard resource for containers'),
])
def test_limit_range_validation(item, cause):
    lr = limit_range(item)
    assert [str(c) for c in STRATEGY.validate(lr)][:1] == [cause]


def test_a_limit_type_appears_once():
    lr = limit_range({"type": "Container"}, {"type": "Container"})
    assert [str(c) for c in STRATEGY.validate(lr)] == ['spec.limits[1].type: Duplicate value: "Container"']
