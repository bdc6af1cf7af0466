"""The PersistentVolume binder alone (``pkg/controller/volume/persistentvolume``): which volume a claim
gets, binding both ways, asking a provisioner, and what a released volume becomes."""

from __future__ import annotations

from labkit.controllers.persistentvolume import PersistentVolumeController, find_matching_volume

from .objects import NS, meta


def pv(name: str, size: str, *, modes=("ReadWriteOnce",), cls: str = "", labels=None, claim=None,
       policy: str = "Retain", phase: str = "Available") -> dict:
    spec = {"capacity": {"storage": size}, "accessModes": list(modes), "persistentVolumeReclaimPolicy": policy,
            "volumeMode": "Filesystem", "hostPath": {"path": f"/tmp/{name}"}}
    if cls:
        spec["storageClassName"] = cls
    if claim:
        spec["claimRef"] = claim
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": meta(name, None, labels=labels),
            "spec": spec, "status": {"phase": phase}}


def pvc(name: str = "data", size: str = "1Gi", *, modes=("ReadWriteOnce",), cls: str | None = "",
        selector=None) -> dict:
    spec = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, "volumeMode": "Filesystem"}
    if cls is not None:
        spec["storageClassName"] = cls
    if selector:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(name), "spec": spec,
            "status": {"phase": "Pending"}}


def names(volume: dict | None) -> str | None:
    return volume and volume["metadata"]["name"]


def test_the_smallest_volume_that_fits_in_class_modes_and_selector():
    volumes = [pv("big", "10Gi"), pv("small", "1Gi"), pv("tiny", "500Mi"), pv("rwx", "1Gi", modes=["ReadWriteMany"]),
               pv("fast", "1Gi", cls="fast", labels={"tier": "gold"})]
    assert names(find_matching_volume(pvc(size="800Mi"), volumes)) == "small"
    assert names(find_matching_volume(pvc(size="2Gi"), volumes)) == "big"
    assert names(find_matching_volume(pvc(modes=["ReadWriteMany"]), volumes)) == "rwx"
    assert names(find_matching_volume(pvc(modes=["ReadWriteOnce", "ReadWriteMany"]), volumes)) is None
    assert names(find_matching_volume(pvc(cls="fast"), volumes)) == "fast"
    assert names(find_matching_volume(pvc(cls="fast", selector={"matchLabels": {"tier": "silver"}}), volumes)) is None
    assert names(find_matching_volume(pvc(size="20Gi"), volumes)) is None
    taken = pv("taken", "1Gi", claim={"namespace": NS, "name": "other", "uid": "uid-other"}, phase="Bound")
    assert names(find_matching_volume(pvc(), [taken])) is None
    prebound = pv("mine", "100Gi", claim={"namespace": NS, "name": "data"})
    assert names(find_matching_volume(pvc(), [pv("small", "1Gi"), prebound])) == "mine", "pre-bound wins"


def test_a_claim_binds_to_a_volume_both_ways(harness):
    h = harness(PersistentVolumeController, [pv("small", "1Gi"), pvc(size="500Mi")])
    h.drain(watch=True)
    (volume,) = h.objects("v1", "persistentvolumes")
    (claim,) = h.objects("v1", "persistentvolumeclaims")
    ref = volume["spec"]["claimRef"]
    assert (ref["namespace"], ref["name"], ref["uid"], volume["status"]["phase"]) == (NS, "data", "uid-data", "Bound")
    assert claim["spec"]["volumeName"] == "small"
    assert claim["metadata"]["annotations"] == {"pv.kubernetes.io/bind-completed": "yes",
                                                "pv.kubernetes.io/bound-by-controller": "yes"}
    assert claim["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}


def test_no_volume_asks_the_class_provisioner_or_says_why(harness):
    sc = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta("standard", None),
          "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}
    h = harness(PersistentVolumeController, [sc, pvc("a", cls="standard"), pvc("b", cls=""), pvc("c", cls="gone")])
    h.drain(watch=True)
    claims = {c["metadata"]["name"]: c for c in h.objects("v1", "persistentvolumeclaims")}
    assert claims["a"]["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"] == "rancher.io/local-path"
    assert {c["status"]["phase"] for c in claims.values()} == {"Pending"}
    events = h.events()
    assert ("Normal ExternalProvisioning Waiting for a volume to be created either by the external provisioner "
            "'rancher.io/local-path' or manually by the system administrator. If volume creation is delayed, please "
            "verify that the provisioner is running and correctly registered.") in events
    assert "Normal FailedBinding no persistent volumes available for this claim and no storage class is set" in events
    assert 'Warning ProvisioningFailed storageclass.storage.k8s.io "gone" not found' in events


def test_a_deleted_claims_volume_is_released_and_kept_or_fails_to_delete(harness):
    ref = {"kind": "PersistentVolumeClaim", "namespace": NS, "name": "gone", "uid": "uid-gone"}
    h = harness(PersistentVolumeController, [pv("kept", "1Gi", claim=ref, phase="Bound"),
                                             pv("static", "1Gi", claim=ref, phase="Bound", policy="Delete"),
                                             {**pv("dynamic", "1Gi", claim=ref, phase="Bound", policy="Delete"),
                                              "metadata": meta("dynamic", None, annotations={
                                                  "pv.kubernetes.io/provisioned-by": "rancher.io/local-path"})}])
    h.drain(watch=True)
    phases = {v["metadata"]["name"]: v["status"]["phase"] for v in h.objects("v1", "persistentvolumes")}
    assert phases == {"kept": "Released", "static": "Failed", "dynamic": "Released"}
    assert ('Warning VolumeFailedDelete error getting deleter volume plugin for volume "static": no deletable volume '
            "plugin matched") in h.events()


def test_a_claim_waiting_for_a_volume_binds_once_one_becomes_available(harness):
    h = harness(PersistentVolumeController, [pvc(cls="")])
    h.drain(watch=True)
    assert h.objects("v1", "persistentvolumeclaims")[0]["status"]["phase"] == "Pending"
    volume = pv("late", "1Gi", phase="Pending")
    h.run(h.client.create("/api/v1/persistentvolumes", {k: volume[k] for k in ("metadata", "spec", "status")}))
    h.drain(watch=True)
    assert h.objects("v1", "persistentvolumes")[0]["status"]["phase"] == "Bound"
    assert h.objects("v1", "persistentvolumeclaims")[0]["spec"]["volumeName"] == "late"
