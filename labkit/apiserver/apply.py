"""Server-side apply and field ownership: ``metadata.managedFields``.

Mirrors ``sigs.k8s.io/structured-merge-diff`` (field sets, ``typed`` merge / compare / to-field-set,
``merge.Updater.Apply`` and ``Update``) and ``k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager``
(the FieldsV1 encoding, the metadata fields nobody owns, status owned only through ``/status``, one
entry per manager + operation + subresource). The list and map semantics come from
:mod:`labkit.apiserver.merge_schema`, shared with strategic merge patch.

A field set is a set of paths; a path is a tuple of elements ``("f", name)``, ``("k", '{"name":"x"}')``
(an item of a ``listType=map`` list, keys JSON-encoded and sorted), ``("v", '"x"')`` (an item of a
``listType=set`` list) or ``("i", 3)``.

An applied configuration with a field its kind does not declare fails as structured-merge-diff's typed
conversion fails (:func:`undeclared`), whatever ``fieldValidation`` says. Left out: apply configurations in
other API versions (no conversion), unions, duplicate list keys,
and the Go zero values: Kubernetes records a newly added struct such as ``rollingUpdate`` as a member
(``.``) only when the Go field is a pointer; labkit does so when the schema names no type for it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from labkit import codec
from labkit.apimachinery.meta import Obj
from labkit.apiserver import fieldtypes, merge_schema, resources
from labkit.apiserver.merge_schema import FieldSchema
from labkit.apiserver.patch import PatchError

PathElement = tuple[str, Any]
Path = tuple[PathElement, ...]
FieldSet = set[Path]

_MISSING = object()


class ApplyConflict(Exception):
    """The apply changes fields other managers own; ``conflicts`` lists (manager, ".spec.replicas"),
    ``printed`` says each manager as the API server's message does."""

    def __init__(self, conflicts: list[tuple[str, str]], printed: dict[str, str] | None = None) -> None:
        self.conflicts = conflicts
        self.printed = {m: (printed or {}).get(m, f'"{m}"') for m, _ in conflicts}
        super().__init__(self.message())

    def message(self) -> str:
        """``Apply failed with 1 conflict: conflict with "m" using apps/v1 at T: .spec.replicas``; several
        are grouped by manager, one ``- path`` line each."""
        if len(self.conflicts) == 1:
            manager, path = self.conflicts[0]
            return f"Apply failed with 1 conflict: conflict with {self.printed[manager]}: {path}"
        lines = []
        for manager in sorted(self.printed):
            lines.append(f"conflicts with {self.printed[manager]}:")
            lines += [f"- {path}" for m, path in self.conflicts if m == manager]
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)


# --- paths and FieldsV1 --------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def item_element(item: Any, fs: FieldSchema, index: int) -> PathElement:
    """The path element naming one item of a list with schema ``fs``."""
    if fs.list_type == "map":
        defaults = dict(fs.key_defaults)
        key = {}
        for name in fs.list_map_keys:
            if isinstance(item, dict) and name in item:
                key[name] = item[name]
            elif name in defaults:
                key[name] = defaults[name]
            else:
                raise PatchError(400, f"element {index}: associative list with keys has an element that omits "
                                      f'key field "{name}" (and doesn\'t have default value)')
        return ("k", _canonical(key))
    if fs.list_type == "set":
        return ("v", _canonical(item))
    return ("i", index)


def path_string(path: Path) -> str:
    """``.spec.template.spec.containers[name="nginx"].image``, as Kubernetes prints a field path."""
    out = []
    for kind, value in path:
        if kind == "f":
            out.append(f".{value}")
        elif kind == "k":
            out.append("[" + ",".join(f"{k}={_canonical(v)}" for k, v in json.loads(value).items()) + "]")
        elif kind == "v":
            out.append(f"[={value}]")
        else:
            out.append(f"[{value}]")
    return "".join(out)


_ORDER = {"f": 0, "k": 1, "v": 2, "i": 3}


# Objects made from one template carry the same field sets (a thousand pods' status entries): the
# sets are decoded and encoded once each, and a copy is handed out.

def encode_fields(fields: FieldSet) -> Obj:
    """A field set as FieldsV1 JSON: ``{"f:spec": {"f:replicas": {}}}``, ``"."`` marking a member with children."""
    return codec.loads(_encoded(frozenset(fields)))


@functools.lru_cache(maxsize=4096)
def _encoded(fields: frozenset[Path]) -> bytes:
    tree: Obj = {}
    members: set[int] = set()
    for path in fields:
        node = tree
        for kind, value in path:
            node = node.setdefault(f"{kind}:{value}", {})
        members.add(id(node))

    def render(node: Obj) -> Obj:
        out: Obj = {".": {}} if node and id(node) in members else {}
        for key in sorted(node, key=lambda k: (_ORDER[k[0]], k)):
            out[key] = render(node[key])
        return out
    return codec.dumps(render(tree))


def decode_fields(fields_v1: Obj) -> FieldSet:
    return set(_decoded(codec.dumps(fields_v1)))


@functools.lru_cache(maxsize=4096)
def _decoded(fields_v1_json: bytes) -> frozenset[Path]:
    out: FieldSet = set()

    def walk(node: Obj, path: Path) -> None:
        if path and (not node or "." in node):
            out.add(path)
        for key, child in node.items():
            if key == ".":
                continue
            kind, text = key[0], key[2:]
            value: Any = text
            if kind in ("k", "v"):
                value = _canonical(json.loads(text))
            elif kind == "i":
                value = int(text)
            walk(child, path + ((kind, value),))
    walk(codec.loads(fields_v1_json), ())
    return frozenset(out)


# --- the typed walks -----------------------------------------------------------------------------


def field_set(obj: Obj, type_name: str | None) -> FieldSet:
    """The fields an applied configuration sets (structured-merge-diff's ToFieldSet)."""
    out: FieldSet = set()
    _object_fields(obj, type_name, (), out)
    return out


def _object_fields(obj: Obj, type_name: str | None, path: Path, out: FieldSet) -> None:
    for name, value in obj.items():
        fs = merge_schema.field(type_name, name)
        here = path + (("f", name),)
        if isinstance(value, dict) and value and not fs.atomic:
            _object_fields(value, fs.type, here, out)
        elif isinstance(value, list) and fs.list_type != "atomic":
            for n, item in enumerate(value):
                at = here + (item_element(item, fs, n),)
                out.add(at)
                if isinstance(item, dict):
                    _object_fields(item, fs.type, at, out)
        else:
            out.add(here)


def undeclared(applied: Obj, group_version: str, kind: str) -> str:
    """What structured-merge-diff's typed conversion of an applied configuration says of the fields its
    kind does not declare (the kind's fields as :mod:`labkit.apiserver.fieldtypes` reads them), or "" when
    there are none: ``failed to create typed patch object (ns/name; apps/v1, Kind=Deployment):
    .spec.foo: field not declared in schema``. Its walk stops at an object's first such field; labkit
    visits fields in sorted order (Go's map order is random), and names list items as field paths do."""
    model = fieldtypes.model_name(group_version, kind)
    problems: list[Path] = []
    if model is not None:
        _undeclared(applied, ("model", model), (), problems)
    if not problems:
        return ""
    said = [f"{path_string(p)}: field not declared in schema" for p in problems]
    listed = said[0] if len(said) == 1 else "errors:\n" + "\n".join(f"  {line}" for line in said)
    meta = applied.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    group, _, version = group_version.rpartition("/")
    return (f"failed to create typed patch object ({meta.get('namespace') or ''}/{meta.get('name') or ''}; "
            f"{group}/{version}, Kind={kind}): {listed}")


def _undeclared(value: Any, t: fieldtypes.Type, path: Path, out: list[Path],
                fs: FieldSchema = merge_schema.DEFAULT) -> None:
    if t[0] == "list" and isinstance(value, list):
        for n, item in enumerate(value):
            try:
                element = item_element(item, fs, n)
            except PatchError:
                element = ("i", n)
            _undeclared(item, t[1], path + (element,), out)
    elif t[0] == "dict" and isinstance(value, dict):
        for key in sorted(value):
            _undeclared(value[key], t[1], path + (("f", key),), out)
    elif t[0] == "model" and isinstance(value, dict):
        known = fieldtypes.fields(t[1])
        struct = fieldtypes.struct_name(t[1])
        for key in sorted(value):
            if key not in known:
                out.append(path + (("f", key),))
                return
            _undeclared(value[key], known[key], path + (("f", key),), out, merge_schema.field(struct, key))


@dataclasses.dataclass(slots=True)
class Comparison:
    added: FieldSet = dataclasses.field(default_factory=set)
    modified: FieldSet = dataclasses.field(default_factory=set)
    removed: FieldSet = dataclasses.field(default_factory=set)


def compare(old: Obj, new: Obj, type_name: str | None) -> Comparison:
    """What changed between two objects, field by field (structured-merge-diff's Compare)."""
    out = Comparison()
    _compare_objects(old, new, type_name, (), out)
    return out


def _compare_objects(old: Any, new: Any, type_name: str | None, path: Path, out: Comparison) -> None:
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    for name in {**old, **new}:
        fs = merge_schema.field(type_name, name)
        _compare(old.get(name, _MISSING), new.get(name, _MISSING), fs, path + (("f", name),), out,
                 member_if_new=fs.type is None)


def _compare(old: Any, new: Any, fs: FieldSchema, path: Path, out: Comparison, *, member_if_new: bool) -> None:
    if old is _MISSING:
        _added(new, fs, path, out, member_if_new)
        return
    if new is not _MISSING and type(old) is type(new) and old == new:
        return  # an unchanged subtree (one C-level comparison) has nothing to report
    present = [v for v in (old, new) if v is not _MISSING]
    if all(isinstance(v, dict) for v in present) and not fs.atomic and any(present):
        _compare_objects(old, new, fs.type, path, out)
    elif all(isinstance(v, list) for v in present) and fs.list_type != "atomic" and any(present):
        _compare_items(old if old is not _MISSING else [], new if new is not _MISSING else [], fs, path, out)
    else:
        if old is _MISSING:
            out.added.add(path)
        elif new is _MISSING:
            out.removed.add(path)
        elif old != new:
            out.modified.add(path)
        return
    if member_if_new and old is _MISSING:
        out.added.add(path)
    elif member_if_new and new is _MISSING:
        out.removed.add(path)


def _added(new: Any, fs: FieldSchema, path: Path, out: Comparison, member: bool) -> None:
    """What :func:`_compare` reports for a subtree that did not exist before: all of it (the path of every
    field, and of every map or list item that has children when it is a member)."""
    if isinstance(new, dict) and new and not fs.atomic:
        for name, value in new.items():
            child = merge_schema.field(fs.type, name)
            _added(value, child, path + (("f", name),), out, child.type is None)
    elif isinstance(new, list) and new and fs.list_type != "atomic":
        item_fs = FieldSchema(type=fs.type)
        for element, item in _index(new, fs).items():
            _added(item, item_fs, path + (element,), out, True)
    else:
        out.added.add(path)
        return
    if member:
        out.added.add(path)


def _compare_items(old: list, new: list, fs: FieldSchema, path: Path, out: Comparison) -> None:
    olds = _index(old, fs)
    news = _index(new, fs)
    item_fs = FieldSchema(type=fs.type)
    for element in {**olds, **news}:
        _compare(olds.get(element, _MISSING), news.get(element, _MISSING), item_fs, path + (element,), out,
                 member_if_new=True)


def _index(items: list, fs: FieldSchema) -> dict[PathElement, Any]:
    out: dict[PathElement, Any] = {}
    for n, item in enumerate(items):
        out.setdefault(item_element(item, fs, n), item)
    return out


def merge(live: Obj, config: Obj, type_name: str | None) -> Obj:
    """``live`` with ``config`` merged in (structured-merge-diff's Merge); both are left untouched."""
    out = codec.clone(live)
    for name, value in config.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = _merge_value(out.get(name, _MISSING), value, merge_schema.field(type_name, name))
    return out


def _merge_value(live: Any, config: Any, fs: FieldSchema) -> Any:
    if isinstance(live, dict) and isinstance(config, dict) and not fs.atomic:
        return merge(live, config, fs.type)
    if isinstance(live, list) and isinstance(config, list) and fs.list_type != "atomic":
        return _merge_items(live, config, fs)
    return codec.clone(config)


def _merge_items(live: list, config: list, fs: FieldSchema) -> list:
    """Merge two keyed lists. Items follow the applied order; live-only items keep their place."""
    item_fs = FieldSchema(type=fs.type)
    lkeys = [item_element(item, fs, n) for n, item in enumerate(live)]
    ckeys = [item_element(item, fs, n) for n, item in enumerate(config)]
    lmap = dict(zip(reversed(lkeys), reversed(live), strict=True))
    cmap = dict(zip(reversed(ckeys), reversed(config), strict=True))
    shared = [k for k in dict.fromkeys(ckeys) if k in lmap]
    out, done, li, ci = [], set(), 0, 0

    def take(key: PathElement) -> None:
        out.append(_merge_value(lmap.get(key, _MISSING), cmap[key], item_fs))
        done.add(key)
        while shared and shared[0] in done:
            shared.pop(0)

    while li < len(live) or ci < len(config):
        if li < len(live) and ci < len(config):
            if lkeys[li] == ckeys[ci]:
                take(ckeys[ci])
                li, ci = li + 1, ci + 1
                continue
            if lkeys[li] in cmap and shared and shared[0] != lkeys[li]:
                li += 1  # a shared item, but not the next one the applied order wants
                continue
        if li < len(live) and (lkeys[li] not in cmap or lkeys[li] in done):
            if lkeys[li] not in cmap:
                out.append(codec.clone(live[li]))
            li += 1
            continue
        if ci < len(config):
            if ckeys[ci] not in done:
                take(ckeys[ci])
            ci += 1
    return out


# --- what nobody owns ----------------------------------------------------------------------------

_UNOWNED = {(("f", "apiVersion"),), (("f", "kind"),), (("f", "metadata"),)} | {
    (("f", "metadata"), ("f", name)) for name in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "generation", "resourceVersion")}
_MANAGED_FIELDS = (("f", "metadata"), ("f", "managedFields"))


def _has_status_subresource(api_version: str, kind: str) -> bool:
    group = api_version.rpartition("/")[0]
    resource = resources.by_kind(group, kind)
    return resource is not None and resource.subresource("status") is not None


def _owned_here(paths: FieldSet, *, api_version: str, kind: str, subresource: str) -> FieldSet:
    """Drop the metadata nobody owns, and the fields this endpoint does not write: ``status`` through
    the main resource of a kind with a ``/status`` subresource, everything else through ``/status``."""
    status_split = _has_status_subresource(api_version, kind)
    out = set()
    for path in paths:
        if path in _UNOWNED or path[:2] == _MANAGED_FIELDS:
            continue
        is_status = path[0] == ("f", "status")
        if subresource == "status" and not is_status or subresource == "" and status_split and is_status:
            continue
        out.add(path)
    return out


# --- managedFields entries -----------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Entry:
    manager: str
    operation: str
    api_version: str
    time: str
    fields: FieldSet
    subresource: str = ""
    raw: Obj | None = None  # the stored entry it was read from, while it stays the same

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def printed(self) -> str:
        """The manager as a conflict message names it: ``"m" with subresource "status" using v1 at T``."""
        out = f'"{self.manager}"' + (f' with subresource "{self.subresource}"' if self.subresource else "")
        if self.operation == "Update":
            out += f" using {self.api_version}" + (f" at {self.time}" if self.time else "")
        return out

    def drop(self, paths: FieldSet) -> None:
        """Stop owning ``paths``."""
        if not self.fields.isdisjoint(paths):
            self.fields = self.fields - paths
            self.raw = None

    def as_dict(self) -> Obj:
        if self.raw is not None:  # unchanged: no need to encode its fields again
            return self.raw
        out = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version,
               "time": self.time, "fieldsType": "FieldsV1", "fieldsV1": encode_fields(self.fields)}
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def decode_managed_fields(entries: list | None, *, stored: bool = False) -> dict[tuple[str, str, str], Entry]:
    """``metadata.managedFields`` as entries keyed by (manager, operation, subresource). ``stored``: they
    come from the stored object, so an entry that does not change may be written back as it was."""
    out: dict[tuple[str, str, str], Entry] = {}
    for raw in entries or []:
        entry = Entry(raw.get("manager", ""), raw.get("operation", ""), raw.get("apiVersion", ""),
                      raw.get("time", ""), decode_fields(raw.get("fieldsV1") or {}), raw.get("subresource", ""),
                      raw if stored else None)
        previous = out.get(entry.key)
        if previous is not None:
            entry.fields |= previous.fields
            entry.raw = None
        out[entry.key] = entry
    return out


def _store_managed_fields(obj: Obj, entries: dict[tuple[str, str, str], Entry]) -> None:
    kept = sorted((e for e in entries.values() if e.fields),
                  key=lambda e: (e.operation, e.time, e.manager, e.api_version, e.subresource))
    metadata = obj.setdefault("metadata", {})
    if kept:
        metadata["managedFields"] = [e.as_dict() for e in kept]
    else:
        metadata.pop("managedFields", None)


def _without_managed_fields(obj: Obj | None) -> Obj:
    out = codec.clone(obj) if obj else {}
    out.get("metadata", {}).pop("managedFields", None)
    return out


def _tracked_view(obj: Obj | None, subresource: str, status_split: bool) -> Obj:
    """The part of ``obj`` an update through ``subresource`` can own (see :func:`_owned_here`), minus
    ``metadata.managedFields``, without copying the rest: for reading (compare) only. Leaving out the
    rest up front spares walking it (a Node created with its status, say)."""
    if not obj:
        return {}
    if subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    if subresource == "" and status_split and "status" in obj:
        obj = {k: v for k, v in obj.items() if k != "status"}
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or "managedFields" not in metadata:
        return obj
    return {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}


# --- apply and update ----------------------------------------------------------------------------


def server_side_apply(live: Obj | None, applied: Obj, *, manager: str, force: bool, now: str) -> Obj:
    """Apply ``applied`` as ``manager`` and return the new object (``live`` None creates it).

    The manager's Apply entry becomes exactly the applied field set; fields it applied before and
    omits now are removed unless another manager owns them. Changing a field another manager owns
    raises :class:`ApplyConflict`, unless ``force`` moves the ownership. Neither input is mutated.
    """
    api_version, kind = applied.get("apiVersion"), applied.get("kind")
    if not isinstance(api_version, str) or not api_version or not isinstance(kind, str) or not kind:
        raise PatchError(400, "apiVersion and kind must be set in an apply configuration")
    type_name = merge_schema.root(kind)
    scope = {"api_version": api_version, "kind": kind, "subresource": ""}
    config = _without_managed_fields(applied)
    if _has_status_subresource(api_version, kind):
        config.pop("status", None)
    base = _without_managed_fields(live)
    entries = decode_managed_fields((live or {}).get("metadata", {}).get("managedFields"), stored=True)

    key = (manager, "Apply", "")
    previous = entries.get(key)
    applied_fields = _owned_here(field_set(config, type_name), **scope)
    entries[key] = Entry(manager, "Apply", api_version, previous.time if previous else now, applied_fields)
    result = merge(base, config, type_name)
    _prune(result, (previous.fields if previous else set()) - applied_fields, entries, type_name)

    change = compare(base, result, type_name)
    changed = _owned_here(change.added | change.modified, **scope)
    conflicts = sorted({(e.manager, path_string(p)) for k, e in entries.items() if k != key
                        for p in e.fields & changed})
    if conflicts and not force:
        raise ApplyConflict(conflicts, {e.manager: e.printed() for k, e in entries.items() if k != key})
    for k, entry in entries.items():
        if k != key:
            entry.drop(changed | change.removed)
    if previous is None or result != base:
        entries[key].time = now
    _store_managed_fields(result, entries)
    return result


def _prune(obj: Obj, candidates: FieldSet, entries: dict, type_name: str | None) -> None:
    """Remove the fields a manager stopped applying that no manager owns any more."""
    owned = set().union(*(e.fields for e in entries.values()))
    for path in sorted(candidates - owned, key=len):
        if any(len(p) > len(path) and p[:len(path)] == path for p in owned):
            continue  # someone still owns a field below it
        if len(path) >= 2 and path[-1][0] == "f" and path[-2][0] == "k" and path[-1][1] in json.loads(path[-2][1]):
            continue  # a key field goes with its item
        chain = _locate(obj, path, type_name)
        if chain is None:
            continue
        container, at = chain[-1]
        del container[at]
        for depth in range(len(chain) - 2, -1, -1):  # drop maps and lists this emptied, unless owned
            container, at = chain[depth]
            if container[at] or path[depth][0] != "f" or path[:depth + 1] in owned:
                break
            del container[at]


def _locate(obj: Obj, path: Path, type_name: str | None) -> list[tuple[Any, Any]] | None:
    """The (container, key or index) pairs leading to ``path``, or None when it is absent."""
    chain: list[tuple[Any, Any]] = []
    current: Any = obj
    fs = FieldSchema(type=type_name)
    for kind, value in path:
        if kind == "f":
            if not isinstance(current, dict) or value not in current:
                return None
            fs = merge_schema.field(fs.type, value)
            chain.append((current, value))
            current = current[value]
            continue
        if not isinstance(current, list):
            return None
        index = next((n for n, item in enumerate(current) if item_element(item, fs, n) == (kind, value)), None)
        if index is None:
            return None
        chain.append((current, index))
        current = current[index]
        fs = FieldSchema(type=fs.type)
    return chain


def track_update(old: Obj | None, new: Obj, *, manager: str, now: str, subresource: str = "") -> None:
    """Record a create, update or patch by ``manager`` (operation "Update") in ``new``'s managedFields.

    The fields it added or changed become the manager's and stop being anyone else's; removed fields
    leave every set. The managedFields come from ``new`` when the request carried them, else from
    ``old``. An entry whose set becomes empty is dropped.

    It never fails the request (kube's ``FieldManager.UpdateNoErrors``): an object whose fields cannot
    be tracked (a list item without its merge key, which validation then refuses, or managedFields that
    do not decode) goes on without managedFields.
    """
    try:
        _track_update(old, new, manager=manager, now=now, subresource=subresource)
    except (PatchError, ValueError, TypeError, AttributeError, KeyError):
        metadata = new.get("metadata")
        if isinstance(metadata, dict):
            metadata.pop("managedFields", None)


def _track_update(old: Obj | None, new: Obj, *, manager: str, now: str, subresource: str) -> None:
    api_version, kind = new.get("apiVersion", ""), new.get("kind", "")
    metadata = new.setdefault("metadata", {})
    source = metadata["managedFields"] if "managedFields" in metadata else (old or {}).get(
        "metadata", {}).get("managedFields")
    split = _has_status_subresource(api_version, kind)
    change = compare(_tracked_view(old, subresource, split), _tracked_view(new, subresource, split),
                     merge_schema.root(kind))
    scope = {"api_version": api_version, "kind": kind, "subresource": subresource}
    changed = _owned_here(change.added | change.modified, **scope)
    removed = _owned_here(change.removed, **scope)
    if not changed and not removed and "managedFields" not in metadata:
        if source:  # nothing changed hands: the old entries stand as they were
            metadata["managedFields"] = source
        return
    entries = decode_managed_fields(source, stored="managedFields" not in metadata)
    for entry in entries.values():
        entry.drop(changed | removed)
    mine = changed - removed
    if mine:
        key = (manager, "Update", subresource)
        previous = entries.get(key)
        entries[key] = Entry(manager, "Update", api_version, now, mine | (previous.fields if previous else set()),
                             subresource)
    _store_managed_fields(new, entries)
