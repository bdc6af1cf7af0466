"""The article's Python examples, verbatim, against a running labkit cluster (§3.1, §4.1, §5.1)."""

from __future__ import annotations

import contextlib
import gc
import io

import pytest

from labkit import Cluster


def run_snippet(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<article>", "exec"), {})
    return out.getvalue()


SECTION_3_1 = '''
from kubernetes import client, config
config.load_kube_config()
v1 = client.CoreV1Api()
ret = v1.list_pod_for_all_namespaces(watch=False)
for i in ret.items:
    print("Namespace: %s \\t Name: %s" % (i.metadata.namespace, i.metadata.name))
'''

SECTION_4_1 = '''
from kubernetes import client, config

# 加载Kubernetes配置文件(~/.kube/config)
config.load_kube_config()

# 创建Pod对象
pod_manifest = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "nginx"},
    "spec": {
        "containers": [{
            "name": "nginx",
            "image": "nginx:latest",
            "ports": [{"containerPort": 80}]
        }]
    }
}

# 创建Kubernetes API客户端
api_instance = client.CoreV1Api()

# 在Node节点上创建Pod
api_response = api_instance.create_namespaced_pod(body=pod_manifest, namespace="default")
print("Pod created. Status='%s'" % str(api_response.status))
'''

SECTION_5_1 = '''
from kubernetes import client, config
config.load_kube_config()
v1 = client.CoreV1Api()
print("Listing pods with their IPs:")
ret = v1.list_pod_for_all_namespaces(watch=False)
for i in ret.items:
    print("%s\\t%s\\t%s" % (i.status.pod_ip, i.metadata.namespace, i.metadata.name))
'''


def test_article_examples_run_verbatim() -> None:
    # A fresh cluster: starting it points KUBECONFIG here, which is all the article's code needs.
    with Cluster(nodes=1, seed=1):
        assert run_snippet(SECTION_3_1) == ""  # no pods yet
        created = run_snippet(SECTION_4_1)
        assert created.startswith("Pod created. Status='")
        assert "phase='Pending'" in created
        assert run_snippet(SECTION_3_1) == "Namespace: default \t Name: nginx\n"
        listing = run_snippet(SECTION_5_1).splitlines()
        assert listing[0] == "Listing pods with their IPs:"
        assert listing[1].endswith("\tdefault\tnginx")


def test_kubeconfig_env_is_restored(monkeypatch) -> None:
    import os

    monkeypatch.setenv("KUBECONFIG", "/somewhere/else")
    with Cluster(nodes=0) as c:
        assert os.environ["KUBECONFIG"] == str(c.kubeconfig)
    assert os.environ["KUBECONFIG"] == "/somewhere/else"


def test_gc_thresholds_are_raised_while_running_and_restored() -> None:
    import gc

    before = gc.get_threshold()
    with Cluster(nodes=0, runtime="sim", set_kubeconfig_env=False):
        assert all(now >= was for now, was in zip(gc.get_threshold(), before)) and gc.get_threshold()[0] >= 50_000
    assert gc.get_threshold() == before


def test_run_on_a_stopped_cluster_is_a_clear_error_without_a_warning(recwarn) -> None:
    """A widget refreshing while its cluster stops must not print "coroutine ... was never awaited"."""
    c = Cluster(nodes=0, runtime="sim", set_kubeconfig_env=False).start()
    c.stop()

    async def read() -> int:
        return 1
    with pytest.raises(RuntimeError, match="not running"):
        c.run(read())
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
