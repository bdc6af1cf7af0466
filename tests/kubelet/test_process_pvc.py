"""A persistentVolumeClaim volume on the process runtime: what one pod writes, the next pod of the same
claim reads after the first is deleted; a pod whose claim is missing waits in ContainerCreating."""

from __future__ import annotations

from pathlib import Path

from .conftest import pod, wait_for


def claim_pod(name: str, claim: str, script: str) -> dict:
    return pod(name, "pn1", [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
                              "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
               restartPolicy="Never", volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": claim}}])


def finished(api, name: str) -> dict | None:
    p = api.get("pods", name)
    return p if p and p["status"].get("phase") in ("Succeeded", "Failed") else None


def test_data_outlives_the_pod_that_wrote_it(api, process_node):
    api.create("persistentvolumeclaims", {"metadata": {"name": "notes"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Mi"}}}})
    api.create("pods", claim_pod("writer", "notes", "echo kept > /data/note"))
    assert wait_for(lambda: finished(api, "writer"), timeout=30)["status"]["phase"] == "Succeeded"
    api.delete("pods", "writer", gracePeriodSeconds=0)
    wait_for(lambda: api.get("pods", "writer") is None)
    api.create("pods", claim_pod("reader", "notes", 'test "$(cat /data/note)" = kept'))
    assert wait_for(lambda: finished(api, "reader"), timeout=30)["status"]["phase"] == "Succeeded", \
        "the reader found the writer's note"
    volume = api.get("persistentvolumes", api.get("persistentvolumeclaims", "notes")["spec"]["volumeName"], "")
    assert (Path(volume["spec"]["hostPath"]["path"]) / "note").read_text() == "kept\n", "in the claim's host directory"


def test_a_pod_whose_claim_is_missing_waits_in_container_creating(api, process_node):
    api.create("pods", claim_pod("orphan", "nowhere", "true"))

    def waiting() -> dict | None:
        p = api.get("pods", "orphan")
        statuses = (p or {}).get("status", {}).get("containerStatuses") or []
        return statuses and statuses[0]["state"].get("waiting")
    assert wait_for(waiting) == {"reason": "ContainerCreating"}
    assert api.get("pods", "orphan")["status"]["phase"] == "Pending"
    assert ("FailedMount", "Unable to attach or mount volumes: unmounted volumes=[data], failed to process "
            "volumes=[data]: error processing PVC default/nowhere: failed to fetch PVC from API server: "
            'persistentvolumeclaims "nowhere" not found') in wait_for(lambda: api.events("orphan"))
    api.create("persistentvolumeclaims", {"metadata": {"name": "nowhere"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Mi"}}}})
    assert wait_for(lambda: finished(api, "orphan"), timeout=30)["status"]["phase"] == "Succeeded", \
        "once the claim is made and bound, the pod starts"
