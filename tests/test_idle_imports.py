"""An idle cluster's process holds only what it uses (issue #18: an idle 3-node cluster near 110 MB):
networkx (some 12 MB) comes at the first network graph, the Docker SDK (some 6 MB) with the docker
runtime only, and the kubernetes client (some 20 MB) with a learner's own use of it (labkit reads its
models from their source, for decoding and the OpenAPI documents alike); none with ``import labkit`` or
a started sim or process cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LARGE = ("docker", "kubernetes", "networkx", "pydantic")
# A fresh interpreter with a cluster of the runtime in argv[1]: which of the packages named in argv[2:]
# labkit imports, a started cluster adds, then the first OpenAPI document and the first graph bring.
PROBE = """
import json, sys
import labkit, labkit.network
from labkit.client import resource_path
loaded = lambda: sorted(m for m in sys.argv[2:] if m in sys.modules)
seen = {"import": loaded()}
c = labkit.Cluster(nodes=3, runtime=sys.argv[1], set_kubeconfig_env=False).start(announce=False)
admin = c.admin()
c.run(admin.create(resource_path("v1", "configmaps", namespace="default"),
                   {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b"}}))
seen["started"] = loaded()
c.run(admin.get("/openapi/v3"))
seen["openapi"] = loaded()
c.run(labkit.network.snapshot(admin))
seen["graph"] = loaded()
c.stop()
print(json.dumps(seen))
"""


@pytest.mark.parametrize("runtime", ["sim", "process"])
def test_an_idle_cluster_imports_neither_the_kubernetes_client_nor_networkx_nor_docker(runtime: str) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, runtime, *LARGE], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    seen = json.loads(out.stdout.splitlines()[-1])
    assert seen["import"] == seen["started"] == seen["openapi"] == []
    assert seen["graph"] == ["networkx"]
