"""Docker runtime, whole cluster: the article's pod on labkit's nginx stand-in, image pull failures,
limits as docker applies them (OOM kills: test_limits.py) and cluster DNS from inside a pod."""

from __future__ import annotations

import urllib.request

import docker
import pytest

from labkit.kubelet.kubelet import STAND_IN_ANNOTATION
from labkit.kubelet.runtime import LABEL_CLUSTER, LABEL_POD_NAME, LABEL_POD_NAMESPACE

from .conftest import Env, wait_for

pytestmark = pytest.mark.docker

ARTICLE_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nginx"},
               "spec": {"containers": [{"name": "nginx", "image": "nginx:latest", "ports": [{"containerPort": 80}]}]}}


def containers_of(namespace: str, pod: str) -> list[dict]:
    """The pod's app containers as ``docker inspect`` shows them (not its sandbox)."""
    api = docker.from_env().api
    labels = [f"{LABEL_POD_NAMESPACE}={namespace}", f"{LABEL_POD_NAME}={pod}", "io.kubernetes.docker.type=container"]
    return [api.inspect_container(c["Id"]) for c in api.containers(all=True, filters={"label": labels})]


def test_article_pod_runs_on_the_nginx_stand_in_and_says_so(docker_env: Env) -> None:
    ns = docker_env.namespace()
    docker_env.core.create_namespaced_pod(body=ARTICLE_POD, namespace=ns)
    pod = docker_env.running(ns, "nginx")

    assert pod.metadata.annotations[STAND_IN_ANNOTATION] == "nginx:latest -> labkit/nginx:1"
    warnings = [(reason, msg) for kind, reason, msg in docker_env.events(ns, "nginx") if kind == "Warning"]
    assert [reason for reason, _ in warnings] == ["ImageStandIn"]
    assert '"nginx:latest" runs as labkit/nginx:1' in warnings[0][1]
    assert pod.status.container_statuses[0].image == "nginx:latest"
    # the host reaches the pod's IP on labkit's bridge; the stand-in serves nginx's welcome page
    page = urllib.request.urlopen(f"http://{pod.status.pod_ip}:80/", timeout=5).read().decode()
    assert "Welcome to nginx!" in page and "stand-in" in page
    [container] = containers_of(ns, "nginx")
    assert container["Config"]["Labels"][LABEL_CLUSTER] and container["State"]["Running"]


def test_unknown_image_shows_err_image_pull_then_back_off(docker_env: Env) -> None:
    ns = docker_env.namespace()
    docker_env.pod(ns, "ghost", "labkit.invalid/no-such-image:1")

    def waiting_reasons() -> set[str]:
        seen.update(s.state.waiting.reason for s in docker_env.core.read_namespaced_pod("ghost", ns).status.container_statuses or []
                    if s.state.waiting)
        return {"ErrImagePull", "ImagePullBackOff"} <= seen

    seen: set[str] = set()
    wait_for(waiting_reasons, timeout=20, every=0.05, what=lambda: f"{seen}; {docker_env.describe(ns, 'ghost')}")
    reasons = [reason for _, reason, _ in docker_env.events(ns, "ghost")]
    assert "Failed" in reasons and "BackOff" in reasons
    assert docker_env.core.read_namespaced_pod("ghost", ns).status.phase == "Pending"
    assert containers_of(ns, "ghost") == []


def test_limits_reach_docker(docker_env: Env) -> None:
    ns = docker_env.namespace()
    docker_env.pod(ns, "limited", "busybox", c_command=["sleep", "3600"],
                   c_resources={"limits": {"memory": "64Mi", "cpu": "250m"}})
    docker_env.running(ns, "limited")
    [container] = containers_of(ns, "limited")
    host = container["HostConfig"]
    assert host["Memory"] == 64 * 2**20
    assert (host["CpuQuota"], host["CpuPeriod"]) == (25_000, 100_000)
    assert host["CpuShares"] == 256  # requests default to limits
