"""Controller history: the ControllerRevisions a DaemonSet or a StatefulSet keeps of its template
(``pkg/controller/history/controller_history.go`` and both controllers' ``getPatch``).

A revision's ``data`` is a strategic merge patch that puts the owner's ``spec.template`` back
(``{"spec": {"template": {..., "$patch": "replace"}}}``), which is what ``kubectl rollout undo``
sends and ``ApplyRevision`` applies. ``HashControllerRevision`` hashes that patch's JSON (FNV-32 of
Go's encoding of it: sorted keys, no spaces, ``<``, ``>`` and ``&`` escaped; then the collision
count) and ``rand.SafeEncodeString`` spells the sum; the name is ``<owner>-<hash>``. Revisions are
compared by hash label and data. Data is hashed and compared after dropping empty and null fields
(the Deployment controller's ``normalized``), so a template sent back by a client with
``creationTimestamp: null`` matches its revision; kube hashes the bytes as Go wrote them, which
carry such fields, so names differ from kube's. Left out: adoption and release of revisions by selector
(``ClaimControllerRevisions``): an owner keeps the revisions that name it as controller.
"""

from __future__ import annotations

import json
from typing import Any

from labkit import codec
from labkit.apimachinery.meta import Obj, get_controller_of, new_controller_ref
from labkit.apiserver.patch import apply_strategic_merge_patch
from labkit.client import APIStatusError, Client, resource_path
from labkit.controllers.deployment import normalized, safe_encode
from labkit.informer import Informer

HASH_LABEL = "controller-revision-hash"
API_VERSION = "apps/v1"
_NAME_PREFIX_MAX = 223  # ControllerRevisionName: 253 less room for the hash


def template_patch(owner: Obj) -> Obj:
    """``getPatch``: the revision ``data`` that puts back ``owner``'s template."""
    return {"spec": {"template": {**codec.clone(owner["spec"]["template"]), "$patch": "replace"}}}


def go_json(value: Any) -> bytes:
    """``json.Marshal`` of a decoded document: sorted keys, compact, HTML characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode()


def hash_revision(data: Obj, collision_count: int | None) -> str:
    """``HashControllerRevision``: FNV-32 (not 32a) of the data, then of the collision count."""
    raw = go_json(normalized(data)) + (str(collision_count).encode() if collision_count is not None else b"")
    h = 0x811C9DC5
    for byte in raw:
        h = ((h * 0x01000193) & 0xFFFFFFFF) ^ byte
    return safe_encode(str(h))


def revision_name(owner_name: str, hash_: str) -> str:
    """``ControllerRevisionName``."""
    return f"{owner_name[:_NAME_PREFIX_MAX]}-{hash_}"


def new_revision(owner: Obj, kind: str, data: Obj, revision: int, collision_count: int) -> Obj:
    """``NewControllerRevision``: labelled as the template, named and hash-labelled by the data's hash,
    annotated as the owner."""
    meta = owner["metadata"]
    name = revision_name(meta["name"], hash_revision(data, collision_count))
    labels = {**((owner["spec"]["template"].get("metadata") or {}).get("labels") or {}), HASH_LABEL: name}
    return {"apiVersion": API_VERSION, "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                         "annotations": dict(meta.get("annotations") or {}),
                         "ownerReferences": [new_controller_ref(owner, kind=kind, api_version=API_VERSION)]},
            "data": data, "revision": revision}


def same_data(a: Obj, b: Obj) -> bool:
    return bool(normalized(a.get("data")) == normalized(b.get("data")))


def equal_revision(a: Obj, b: Obj) -> bool:
    """``EqualRevision``: the same hash label and the same data."""
    def hash_of(r: Obj) -> str | None:
        return (r["metadata"].get("labels") or {}).get(HASH_LABEL)
    return hash_of(a) == hash_of(b) and same_data(a, b)


def owned_revisions(revisions: Informer, owner: Obj) -> list[Obj]:
    """``ListControllerRevisions`` of the owner, in ``SortControllerRevisions`` order (revision, then
    creation time, then name)."""
    uid = owner["metadata"]["uid"]
    owned = [r for r in revisions.list(owner["metadata"]["namespace"])
             if (get_controller_of(r) or {}).get("uid") == uid]
    return sorted(owned, key=lambda r: (r.get("revision", 0), r["metadata"].get("creationTimestamp") or "",
                                        r["metadata"]["name"]))


def next_revision(revisions: list[Obj]) -> int:
    """``nextRevision``: one above the highest (revisions sorted)."""
    return revisions[-1].get("revision", 0) + 1 if revisions else 1


async def create_revision(client: Client, owner: Obj, revision: Obj, collision_count: int) -> tuple[Obj, int]:
    """``CreateControllerRevision``: create under the hash's name; a revision of that name with the
    same data is taken, one with other data is a collision: count it and try the next name. Returns
    the revision and the collision count."""
    ns = owner["metadata"]["namespace"]
    path = resource_path(API_VERSION, "controllerrevisions", namespace=ns)
    while True:
        body = codec.clone(revision)
        body["metadata"]["name"] = revision_name(owner["metadata"]["name"],
                                                 hash_revision(revision["data"], collision_count))
        try:
            return await client.create(path, body), collision_count
        except APIStatusError as e:
            if e.code != 409:
                raise
        existing = await client.get(resource_path(API_VERSION, "controllerrevisions", namespace=ns,
                                                  name=body["metadata"]["name"]))
        if same_data(existing, body):
            return existing, collision_count
        collision_count += 1


async def update_revision(client: Client, revision: Obj, number: int) -> Obj:
    """``UpdateControllerRevision``: give an old revision a new number (a rollback to it)."""
    meta = revision["metadata"]
    return await client.patch(resource_path(API_VERSION, "controllerrevisions", namespace=meta["namespace"],
                                            name=meta["name"]), {"revision": number})


async def delete_revision(client: Client, revision: Obj) -> None:
    """``DeleteControllerRevision``; one gone already is fine."""
    meta = revision["metadata"]
    try:
        await client.delete(resource_path(API_VERSION, "controllerrevisions", namespace=meta["namespace"],
                                          name=meta["name"]))
    except APIStatusError as e:
        if e.code != 404:
            raise


def apply_revision(owner: Obj, kind: str, revision: Obj) -> Obj:
    """``ApplyRevision``: the owner with the revision's template patched in."""
    return apply_strategic_merge_patch(owner, revision["data"], kind=kind)
