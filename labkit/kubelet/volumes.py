"""Volumes a pod's containers mount: what the kubelet's volume manager and plugins
(``pkg/kubelet/volumemanager``, ``pkg/volume/{configmap,secret,emptydir,downwardapi,hostpath,projected}``) do.

Each volume is a host directory under ``<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>``,
filled before the containers start (configMap and secret keys as files, ``items`` choosing keys and
paths, ``defaultMode``/``mode``), and passed to the runtime as :class:`Mount` s. ``hostPath`` is used
as given. A ``projected`` volume gathers secret, configMap, downwardAPI and ``serviceAccountToken``
sources in one directory: the token is the kubelet's TokenRequest for the pod's service account,
bound to the pod (the ServiceAccount admission plugin adds such a volume, ``kube-api-access-*``, to
every pod). A ``persistentVolumeClaim`` resolves through the claim to its bound PersistentVolume's
``hostPath`` or ``local`` directory (``pkg/volume/util``'s claim lookup in the volume manager's
``desiredStateOfWorldPopulator``). A volume that cannot be set up yet (a missing or unbound claim, a
missing ConfigMap or Secret) is a :class:`MountError` in kube's words: the pod waits in
``ContainerCreating`` with a ``FailedMount`` event, and the kubelet tries again soon, as its volume
manager does.

Left out: atomic ``..data`` symlink swaps, live updates of mounted ConfigMaps and the token's
rotation before it expires, other persistent volume sources (CSI ...), fsGroup ownership, size
limits, ``readOnly`` claims.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from labkit.apimachinery.meta import Obj
from labkit.kubelet.envvars import GetObject, config_error, field_value
from labkit.kubelet.runtime import CRIError, Mount

PLUGINS = {"emptyDir": "empty-dir", "configMap": "configmap", "secret": "secret", "downwardAPI": "downward-api",
           "hostPath": "host-path", "projected": "projected", "persistentVolumeClaim": "pvc"}
#: how soon the kubelet looks again at a volume it could not mount (``podAttachAndMountRetryInterval``)
MOUNT_RETRY_INTERVAL = 0.3
#: (pod, its serviceAccountToken source) -> a token for the pod's service account
RequestToken = Callable[[Obj, Obj], Awaitable[str]]
Files = dict[str, tuple[str | bytes, int | None]]  # path in the volume -> (content, mode or None)


def pod_dir(root: Path, uid: str) -> Path:
    return root / "pods" / uid


class MountError(CRIError):
    """A volume that cannot be mounted yet: the pod waits in ``ContainerCreating`` (event ``FailedMount``)."""


def mount_error(volume: str, message: str) -> MountError:
    """A volume its plugin could not set up (``MountVolume.SetUp failed``)."""
    return MountError("ContainerCreating", f'MountVolume.SetUp failed for volume "{volume}" : {message}')


def claim_error(volume: str, namespace: str, claim: str, why: str) -> MountError:
    """A claim the volume manager could not resolve to a volume."""
    return MountError("ContainerCreating", f"Unable to attach or mount volumes: unmounted volumes=[{volume}], "
                                           f"failed to process volumes=[{volume}]: error processing PVC "
                                           f"{namespace}/{claim}: {why}")


async def prepare_volumes(root: Path, pod: Obj, *, get: GetObject, request_token: RequestToken) -> dict[str, str]:
    """Create and fill every volume of ``pod``; returns volume name -> host directory."""
    uid = pod["metadata"]["uid"]
    paths: dict[str, str] = {}
    for vol in pod.get("spec", {}).get("volumes") or []:
        kind = next((k for k in PLUGINS if k in vol), None)
        if kind is None:
            raise mount_error(vol["name"], f'this kubelet supports only {", ".join(PLUGINS)} volumes')
        if kind == "hostPath":
            paths[vol["name"]] = vol["hostPath"]["path"]
            continue
        if kind == "persistentVolumeClaim":
            paths[vol["name"]] = await claim_path(vol, pod["metadata"]["namespace"], get=get)
            continue
        target = pod_dir(root, uid) / "volumes" / f"kubernetes.io~{PLUGINS[kind]}" / vol["name"]
        source = vol[kind]
        if kind == "emptyDir":
            files: Files = {}
        elif kind == "projected":
            files = {}
            for projection in source.get("sources") or []:
                files.update(await _projection_files(vol["name"], pod, projection, get, request_token))
        else:
            files = await _source_files(vol["name"], pod, kind, source, get)
        target.mkdir(parents=True, exist_ok=True)
        paths[vol["name"]] = str(target)
        mode = source.get("defaultMode", 0o644)
        for rel, (content, item_mode) in files.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
            os.chmod(path, item_mode if item_mode is not None else mode)
    return paths


async def _projection_files(volume: str, pod: Obj, projection: Obj, get: GetObject,
                            request_token: RequestToken) -> Files:
    """One source of a projected volume (``secret``, ``configMap``, ``downwardAPI``, ``serviceAccountToken``)."""
    if "serviceAccountToken" in projection:
        token = projection["serviceAccountToken"]
        try:
            return {token["path"]: (await request_token(pod, token), None)}
        except CRIError as e:
            raise mount_error(volume, e.message) from None
    kind = next((k for k in ("secret", "configMap", "downwardAPI") if k in projection), None)
    if kind is None:
        raise mount_error(volume, f"unsupported projection: {', '.join(projection) or 'none'}")
    source = projection[kind]
    if kind == "secret":  # a projection names its secret by "name", a volume by "secretName"
        source = {**source, "secretName": source.get("name", "")}
    return await _source_files(volume, pod, kind, source, get)


async def _source_files(volume: str, pod: Obj, kind: str, source: Obj, get: GetObject) -> Files:
    """The files of a ``configMap``, ``secret`` or ``downwardAPI`` source."""
    if kind == "downwardAPI":
        return {item["path"]: (field_value(pod, item["fieldRef"]["fieldPath"]), item.get("mode"))
                for item in source.get("items") or [] if "fieldRef" in item}
    plural, name_key = ("configmaps", "name") if kind == "configMap" else ("secrets", "secretName")
    obj = await get(plural, pod["metadata"]["namespace"], source[name_key])
    if obj is None:
        if source.get("optional"):
            return {}
        raise mount_error(volume, f'{"configmap" if kind == "configMap" else "secret"} "{source[name_key]}" not found')
    data = {k: v.encode() for k, v in (obj.get("data") or {}).items()} if kind == "configMap" else \
        {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    if kind == "configMap":
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    items = source.get("items")
    if not items:
        return {k: (v, None) for k, v in data.items()}
    missing = [i["key"] for i in items if i["key"] not in data]
    if missing and not source.get("optional"):
        raise mount_error(volume, f"configmap references non-existent config key: {missing[0]}")
    return {i["path"]: (data[i["key"]], i.get("mode")) for i in items if i["key"] in data}


async def claim_path(vol: Obj, namespace: str, *, get: GetObject) -> str:
    """The host directory of the volume bound to the claim ``vol`` names (created if it is missing)."""
    claim_name = vol["persistentVolumeClaim"].get("claimName", "")
    claim = await get("persistentvolumeclaims", namespace, claim_name)
    if claim is None:
        raise claim_error(vol["name"], namespace, claim_name, "failed to fetch PVC from API server: "
                                                               f'persistentvolumeclaims "{claim_name}" not found')
    if claim["metadata"].get("deletionTimestamp"):
        raise claim_error(vol["name"], namespace, claim_name, "can't start pod because PVC is being deleted")
    pv_name = claim.get("spec", {}).get("volumeName")
    if not pv_name or (claim.get("status") or {}).get("phase") != "Bound":
        raise claim_error(vol["name"], namespace, claim_name, "PVC is not bound")
    pv = await get("persistentvolumes", "", pv_name)
    if pv is None:
        raise claim_error(vol["name"], namespace, claim_name, f'failed to fetch PV "{pv_name}" from API server: '
                                                               f'persistentvolumes "{pv_name}" not found')
    source = pv["spec"].get("hostPath") or pv["spec"].get("local")
    if not source:
        raise claim_error(vol["name"], namespace, claim_name, f'PersistentVolume "{pv_name}": this kubelet mounts '
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
