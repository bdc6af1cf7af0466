"""Volumes a pod's containers mount: what the kubelet's volume manager and plugins
(``pkg/kubelet/volumemanager``, ``pkg/volume/{configmap,secret,emptydir,downwardapi,hostpath}``) do.

Each volume is a host directory under ``<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>``,
filled before the containers start (configMap and secret keys as files, ``items`` choosing keys and
paths, ``defaultMode``/``mode``), and passed to the runtime as :class:`Mount` s. ``hostPath`` is used
as given. A ``persistentVolumeClaim`` resolves through the claim to its bound PersistentVolume's
``hostPath`` or ``local`` directory (``pkg/volume/util``'s claim lookup in the volume manager's
``desiredStateOfWorldPopulator``); a missing or unbound claim fails the pod's start with the
populator's words, and the kubelet tries again. Left out: atomic ``..data`` symlink swaps and live
updates of mounted ConfigMaps, projected volumes, other persistent volume sources (CSI ...), fsGroup
ownership, size limits, ``readOnly`` claims.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

from labkit.apimachinery.meta import Obj
from labkit.kubelet.envvars import GetObject, config_error, field_value
from labkit.kubelet.runtime import CRIError, Mount

PLUGINS = {"emptyDir": "empty-dir", "configMap": "configmap", "secret": "secret", "downwardAPI": "downward-api",
           "hostPath": "host-path", "persistentVolumeClaim": "pvc"}


def pod_dir(root: Path, uid: str) -> Path:
    return root / "pods" / uid


async def prepare_volumes(root: Path, pod: Obj, *, get: GetObject) -> dict[str, str]:
    """Create and fill every volume of ``pod``; returns volume name -> host directory."""
    namespace, uid = pod["metadata"]["namespace"], pod["metadata"]["uid"]
    paths: dict[str, str] = {}
    for vol in pod.get("spec", {}).get("volumes") or []:
        kind = next((k for k in PLUGINS if k in vol), None)
        if kind is None:
            raise config_error(f'volume "{vol["name"]}": this kubelet supports only {", ".join(PLUGINS)} volumes')
        if kind == "hostPath":
            paths[vol["name"]] = vol["hostPath"]["path"]
            continue
        if kind == "persistentVolumeClaim":
            paths[vol["name"]] = await claim_path(vol, namespace, get=get)
            continue
        target = pod_dir(root, uid) / "volumes" / f"kubernetes.io~{PLUGINS[kind]}" / vol["name"]
        target.mkdir(parents=True, exist_ok=True)
        paths[vol["name"]] = str(target)
        source = vol[kind]
        if kind == "emptyDir":
            continue
        files: dict[str, tuple[str | bytes, int | None]]
        if kind == "downwardAPI":
            files = {item["path"]: (field_value(pod, item["fieldRef"]["fieldPath"]), item.get("mode"))
                     for item in source.get("items") or [] if "fieldRef" in item}
        else:
            plural, name_key = ("configmaps", "name") if kind == "configMap" else ("secrets", "secretName")
            obj = await get(plural, namespace, source[name_key])
            if obj is None:
                if source.get("optional"):
                    continue
                raise config_error(f'{"configmap" if kind == "configMap" else "secret"} "{source[name_key]}" not found')
            data = {k: v.encode() for k, v in (obj.get("data") or {}).items()} if kind == "configMap" else \
                {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            if kind == "configMap":
                data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
            items = source.get("items")
            if items:
                missing = [i["key"] for i in items if i["key"] not in data]
                if missing and not source.get("optional"):
                    raise config_error(f'configmap references non-existent config key: {missing[0]}')
                files = {i["path"]: (data[i["key"]], i.get("mode")) for i in items if i["key"] in data}
            else:
                files = {k: (v, None) for k, v in data.items()}
        mode = source.get("defaultMode", 0o644)
        for rel, (content, item_mode) in files.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
            os.chmod(path, item_mode if item_mode is not None else mode)
    return paths


#: how soon the kubelet looks again at a volume it could not mount (``podAttachAndMountRetryInterval``)
MOUNT_RETRY_INTERVAL = 0.3


class MountError(CRIError):
    """A volume that cannot be mounted yet: the pod waits in ``ContainerCreating`` (event ``FailedMount``)."""


def mount_error(volume: str, namespace: str, claim: str, why: str) -> MountError:
    return MountError("ContainerCreating", f"Unable to attach or mount volumes: unmounted volumes=[{volume}], "
                                           f"failed to process volumes=[{volume}]: error processing PVC "
                                           f"{namespace}/{claim}: {why}")


async def claim_path(vol: Obj, namespace: str, *, get: GetObject) -> str:
    """The host directory of the volume bound to the claim ``vol`` names (created if it is missing)."""
    claim_name = vol["persistentVolumeClaim"].get("claimName", "")
    claim = await get("persistentvolumeclaims", namespace, claim_name)
    if claim is None:
        raise mount_error(vol["name"], namespace, claim_name, "failed to fetch PVC from API server: "
                                                               f'persistentvolumeclaims "{claim_name}" not found')
    if claim["metadata"].get("deletionTimestamp"):
        raise mount_error(vol["name"], namespace, claim_name, "can't start pod because PVC is being deleted")
    pv_name = claim.get("spec", {}).get("volumeName")
    if not pv_name or (claim.get("status") or {}).get("phase") != "Bound":
        raise mount_error(vol["name"], namespace, claim_name, "PVC is not bound")
    pv = await get("persistentvolumes", "", pv_name)
    if pv is None:
        raise mount_error(vol["name"], namespace, claim_name, f'failed to fetch PV "{pv_name}" from API server: '
                                                               f'persistentvolumes "{pv_name}" not found')
    source = pv["spec"].get("hostPath") or pv["spec"].get("local")
    if not source:
        raise mount_error(vol["name"], namespace, claim_name, f'PersistentVolume "{pv_name}": this kubelet mounts '
                                                               "only hostPath and local volumes")
    path = Path(source["path"])
    if source.get("type") == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True)
    return str(path)


def mounts_for(container: Obj, volume_paths: dict[str, str]) -> list[Mount]:
    """The container's ``volumeMounts`` as runtime mounts (``subPath`` resolved inside the volume)."""
    mounts = []
    for vm in container.get("volumeMounts") or []:
        host = volume_paths.get(vm["name"])
        if host is None:
            raise config_error(f'cannot find volume "{vm["name"]}" to mount into container "{container["name"]}"')
        if vm.get("subPath"):
            host = str(Path(host) / vm["subPath"])
            if not Path(host).exists():  # kube creates a missing subPath as a directory
                Path(host).mkdir(parents=True)
        mounts.append(Mount(container_path=vm["mountPath"], host_path=host, read_only=bool(vm.get("readOnly"))))
    return mounts


def remove_pod_dir(root: Path, uid: str) -> None:
    shutil.rmtree(pod_dir(root, uid), ignore_errors=True)
