"""PersistentVolume, PersistentVolumeClaim and StorageClass strategies, and the DefaultStorageClass
admission plugin: kube's defaults, validation messages and field paths, and Table cells."""

from __future__ import annotations

from labkit.apimachinery.volumeutil import IS_DEFAULT_CLASS
from labkit.apiserver.admission import Attributes
from labkit.apiserver.admission_storage import DefaultStorageClass, StorageObjectInUseProtection
from labkit.apiserver.registry import persistentvolume, persistentvolumeclaim, storageclass
from labkit.apiserver.resources import lookup

from .conftest import NOW

PV, PVC, SC = persistentvolume.STRATEGY, persistentvolumeclaim.STRATEGY, storageclass.STRATEGY
META = {"name": "x", "creationTimestamp": "2026-01-01T11:55:00Z"}


def fields(causes) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in causes]


def test_pv_defaults_validation_and_cells():
    pv = {"metadata": dict(META), "spec": {"capacity": {"storage": "1024Mi"},
                                           "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                                           "hostPath": {"path": "/data"},
                                           "claimRef": {"namespace": "default", "name": "db"}}}
    PV.default(pv)
    PV.prepare_for_create(pv)
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain" and pv["spec"]["volumeMode"] == "Filesystem"
    assert pv["spec"]["capacity"] == {"storage": "1Gi"} and pv["status"] == {"phase": "Pending"}
    assert PV.validate(pv) == []
    assert [c.name for c in PV.columns] == ["Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim",
                                            "StorageClass", "VolumeAttributesClass", "Reason", "Age", "VolumeMode"]
    assert PV.cells(pv, NOW) == ["1Gi", "RWO,RWX", "Retain", "Pending", "default/db", "", "<unset>", "", "5m",
                                 "Filesystem"]
    assert fields(PV.validate({"spec": {"capacity": {"storage": "0"}, "accessModes": ["ReadWriteSometimes"],
                                        "persistentVolumeReclaimPolicy": "Keep"}})) == [
        ("spec.accessModes", 'Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", '
                             '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"'),
        ("spec.capacity[storage]", 'Invalid value: "0": must be greater than zero'),
        ("spec.persistentVolumeReclaimPolicy", 'Unsupported value: "Keep": supported values: "Delete", "Recycle", '
                                               '"Retain"'),
        ("spec", "Required value: must specify a volume type")]
    assert fields(PV.validate({"spec": {"hostPath": {"path": "/a"}, "nfs": {}, "local": {"path": ""}}})) == [
        ("spec.accessModes", "Required value"), ("spec.capacity", "Required value"),
        ("spec.local", "Forbidden: may not specify more than 1 volume type"),
        ("spec.nfs", "Forbidden: may not specify more than 1 volume type"),
        ("spec.local.path", "Required value"),
        ("metadata.annotations", "Required value: Local volume requires node affinity")]
    changed = {**pv, "spec": {**pv["spec"], "hostPath": {"path": "/other", "type": ""}}}
    assert ("spec.persistentvolumesource", "Forbidden: spec.persistentvolumesource is immutable after creation") \
        in fields(PV.validate_update(changed, pv))


def test_pvc_validation_immutability_and_cells():
    claim = {"metadata": dict(META), "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                                              "resources": {"requests": {"storage": "1Gi"}}}}
    PVC.default(claim)
    PVC.prepare_for_create(claim)
    assert claim["spec"]["volumeMode"] == "Filesystem" and claim["status"] == {"phase": "Pending"}
    assert PVC.validate(claim) == []
    assert PVC.cells(claim, NOW) == ["Pending", "", "", "", "standard", "<unset>", "5m", "Filesystem"]
    assert fields(PVC.validate({"spec": {"resources": {}}})) == [
        ("spec.accessModes", "Required value: at least 1 access mode is required"),
        ("spec.resources[storage]", "Required value")]
    bound = {**claim, "spec": {**claim["spec"], "volumeName": "pv1"},
             "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "2Gi"}}}
    assert PVC.cells(bound, NOW)[:5] == ["Bound", "pv1", "2Gi", "RWO", "standard"]
    assert PVC.validate_update(bound, claim) == [], "volumeName may be set once"
    grown = {**bound, "spec": {**bound["spec"], "resources": {"requests": {"storage": "5Gi"}}}}
    assert PVC.validate_update(grown, bound) == []
    assert fields(PVC.validate_update({**bound, "spec": {**bound["spec"], "accessModes": ["ReadWriteMany"]}},
                                      bound)) == [
        ("spec", "Forbidden: spec is immutable after creation except resources.requests and "
                 "volumeAttributesClassName for bound claims")]


def test_storageclass_defaults_validation_and_default_marker():
    sc = {"metadata": {**META, "annotations": {IS_DEFAULT_CLASS: "true"}},
          "provisioner": "rancher.io/local-path"}
    SC.default(sc)
    assert (sc["reclaimPolicy"], sc["volumeBindingMode"]) == ("Delete", "Immediate")
    assert SC.validate(sc) == []
    assert [c.name for c in SC.columns] == ["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode",
                                            "AllowVolumeExpansion", "Age"]
    assert SC.cells(sc, NOW) == ["x (default)", "rancher.io/local-path", "Delete", "Immediate", False, "5m"]
    assert fields(SC.validate({"reclaimPolicy": "Recycle", "volumeBindingMode": "Later"})) == [
        ("provisioner", "Required value"),
        ("reclaimPolicy", 'Unsupported value: "Recycle": supported values: "Delete", "Retain"'),
        ("volumeBindingMode", 'Unsupported value: "Later": supported values: "Immediate", "WaitForFirstConsumer"')]
    assert fields(SC.validate_update({**sc, "provisioner": "other.io/x", "volumeBindingMode": "WaitForFirstConsumer"},
                                     sc)) == [
        ("provisioner", "Forbidden: updates to provisioner are forbidden."),
        ("volumeBindingMode", 'Invalid value: "WaitForFirstConsumer": field is immutable')]


def test_default_storage_class_admission_fills_a_claim_that_names_no_class():
    def sc(name: str, created: str, default: bool) -> dict:
        annotations = {IS_DEFAULT_CLASS: "true"} if default else {}
        return {"metadata": {"name": name, "creationTimestamp": created, "annotations": annotations}}

    classes = [sc("old", "2026-01-01T10:00:00Z", True), sc("new", "2026-01-01T11:00:00Z", True),
               sc("newest", "2026-01-01T11:30:00Z", False)]
    plugin = DefaultStorageClass(lambda plural: classes)
    resource = lookup("", "v1", "persistentvolumeclaims")
    attrs = Attributes("CREATE", resource, "", "default", "data", None, False)
    claims = [{"spec": {}}, {"spec": {"storageClassName": ""}}, {"spec": {"storageClassName": "old"}}]
    for claim in claims:
        plugin.admit(attrs, claim, None)
    assert [c["spec"]["storageClassName"] for c in claims] == ["new", "", "old"], "the newest default; '' is no class"


def test_storage_object_in_use_protection_adds_the_finalizers_on_create():
    plugin = StorageObjectInUseProtection()
    claim, volume = {"metadata": {"finalizers": ["mine"]}}, {"metadata": {}}
    plugin.admit(Attributes("CREATE", lookup("", "v1", "persistentvolumeclaims"), "", "default", "c", None, False),
                 claim, None)
    plugin.admit(Attributes("CREATE", lookup("", "v1", "persistentvolumes"), "", "", "v", None, False), volume, None)
    assert claim["metadata"]["finalizers"] == ["mine", "kubernetes.io/pvc-protection"]
    assert volume["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
