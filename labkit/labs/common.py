"""What several labs share: objects read and written through the API server, kubectl run as the
learner runs it, and waits that show their progress.

labkit's own, and no lesson itself (it declares no ``LESSON``). The troubleshooting labs of chapter
05 (T1-T4) break their clusters with these, through the API as a careless user would, so the
notebook that calls them shows the symptoms and never the cause; the checks of 6.2 and the capstone
read objects with :func:`get`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

from labkit.client import APIStatusError, resource_path
from labkit.cluster import Cluster

NAMESPACE = "default"


def kubectl(cluster: Cluster, *args: str) -> str:
    """What ``kubectl ARGS`` prints against this cluster (stdout, then stderr)."""
    done = subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), *args],
                          capture_output=True, text=True, timeout=60)
    return (done.stdout + done.stderr).strip()


def show(cluster: Cluster, *args: str) -> None:
    """Print ``$ kubectl ARGS`` and what it printed, as in a terminal."""
    print(f"$ kubectl {' '.join(args)}\n{kubectl(cluster, *args)}", flush=True)


def get(cluster: Cluster, api_version: str, plural: str, name: str, *, namespace: str = NAMESPACE) -> Any:
    """The object, or None when there is none (cluster-scoped: ``namespace=""``)."""
    try:
        return cluster.run(cluster.admin().get(resource_path(api_version, plural, namespace=namespace, name=name)))
    except APIStatusError as e:
        if e.code == 404:
            return None
        raise


def items(cluster: Cluster, api_version: str, plural: str, *, selector: str = "",
          namespace: str = NAMESPACE) -> list[Any]:
    """The objects of a kind, those matching the label ``selector`` when one is given."""
    params = {"labelSelector": selector} if selector else {}
    listed = cluster.run(cluster.admin().get(resource_path(api_version, plural, namespace=namespace), **params))
    return list(listed["items"])


def live_pods(cluster: Cluster, selector: str) -> list[Any]:
    """The pods matching ``selector`` that are not being deleted, by name."""
    return sorted((p for p in items(cluster, "v1", "pods", selector=selector)
                   if not p["metadata"].get("deletionTimestamp")), key=lambda p: p["metadata"]["name"])


def is_ready(pod: Any) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])


def create(cluster: Cluster, api_version: str, plural: str, body: dict[str, Any]) -> None:
    """Create ``body`` in the lab's namespace and print what ``kubectl apply`` would."""
    cluster.run(cluster.admin().create(resource_path(api_version, plural, namespace=NAMESPACE), body))
    group = api_version.split("/")[0] if "/" in api_version else ""
    print(f"{body['kind'].lower()}{'.' + group if group else ''}/{body['metadata']['name']} created", flush=True)


def wait_until(what: str, done: Callable[[], bool], *, timeout: float = 60.0) -> float:
    """Poll ``done`` until it is true, printing ``what`` and a dot per second; the seconds it took."""
    started = time.monotonic()
    print(f"waiting for {what} ", end="", flush=True)
    shown = 0
    while not done():
        waited = time.monotonic() - started
        if waited > timeout:
            print(flush=True)
            raise TimeoutError(f"{what}: not within {timeout:g}s")
        if waited - shown >= 1:
            shown += 1
            print(".", end="", flush=True)
        time.sleep(0.1)
    took = time.monotonic() - started
    print(f" ({took:.1f}s)", flush=True)
    return took
