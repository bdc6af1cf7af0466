"""What the scheduler knows of a pod (``types.go``, ``PodRequests``)."""

from __future__ import annotations

from labkit.scheduler.types import pod_requests


def test_requests_follow_init_container_rule() -> None:
    spec = {"containers": [{"resources": {"requests": {"cpu": "200m"}}}, {"resources": {"requests": {"cpu": "300m"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "1"}}},
                               {"restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}],
            "overhead": {"cpu": "50m"}}
    assert pod_requests(spec).milli_cpu == 1000 + 50  # max(500 + 100 sidecar, 1000) + overhead
    spec["initContainers"].reverse()  # the sidecar starts first and runs beside the plain init container
    assert pod_requests(spec).milli_cpu == 1100 + 50
    assert pod_requests({"containers": [{}]}, non_zero=True).milli_cpu == 100
