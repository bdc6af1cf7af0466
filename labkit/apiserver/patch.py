"""The three PATCH content types: JSON merge patch, strategic merge patch and JSON patch.

Mirrors ``k8s.io/apimachinery/pkg/util/strategicpatch/patch.go`` (applying a strategic merge patch,
with its directives ``$patch``, ``$retainKeys``, ``$setElementOrder/<list>`` and
``$deleteFromPrimitiveList/<list>``) and the error mapping of
``k8s.io/apiserver/pkg/endpoints/handlers/patch.go``. JSON merge patch follows RFC 7386; JSON patch
(RFC 6902) is the ``jsonpatch`` library's.

Left out: creating patches (kubectl computes them client-side), and SMP for kinds without a schema,
which Kubernetes refuses (415) and labkit applies with JSON merge semantics for lists. Where
Kubernetes answers 500 for a malformed directive, labkit answers 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonpatch
import jsonpointer

from labkit import codec
from labkit.apimachinery.meta import Obj
from labkit.apiserver import merge_schema
from labkit.apiserver.merge_schema import FieldSchema

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder/"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"


class PatchError(Exception):
    """A patch that is malformed (400) or cannot be applied to this object (422)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _bad(message: str) -> PatchError:
    return PatchError(400, message)


# --- RFC 7386 ------------------------------------------------------------------------------------


def apply_merge_patch(obj: Obj, patch: Obj) -> Obj:
    """Apply a JSON merge patch: maps merge, ``null`` deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        raise _bad("invalid JSON document: a merge patch must be a JSON object")
    return _merge(obj, patch)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return codec.clone(patch)
    out = codec.clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


# --- RFC 6902 ------------------------------------------------------------------------------------


def apply_json_patch(obj: Obj, ops: list) -> Obj:
    """Apply a JSON patch. A document that is not a list of objects is 400; a failing op is 422."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise _bad("invalid JSON patch: expected a JSON array of operation objects")
    try:
        result = jsonpatch.apply_patch(obj, ops, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as err:
        raise PatchError(422, str(err)) from err
    except (KeyError, IndexError, TypeError, ValueError) as err:  # an op missing "value" or "from", a bad index
        raise PatchError(422, f"invalid JSON patch operation: {err}") from err
    if not isinstance(result, dict):
        raise PatchError(422, "the patched document is not a JSON object")
    return result


# --- strategic merge patch -----------------------------------------------------------------------


def apply_strategic_merge_patch(obj: Obj, patch: Obj, *, kind: str) -> Obj:
    """Apply a strategic merge patch to ``obj`` using the merge keys of ``kind``; returns a new dict."""
    if not isinstance(patch, dict):
        raise _bad("invalid JSON document")
    merged = _merge_map(codec.clone(obj), codec.clone(patch), merge_schema.root(kind))
    return _without_directives(merged)


def _is_directive(key: str) -> bool:
    return key in (PATCH, RETAIN_KEYS) or key.startswith((SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE_LIST))


def _without_directives(value: Any) -> Any:
    """Kubernetes drops stray directives when it decodes the result into a Go struct; do the same."""
    if isinstance(value, dict):
        return {k: _without_directives(v) for k, v in value.items() if not _is_directive(k)}
    if isinstance(value, list):
        return [_without_directives(v) for v in value]
    return value


def _new_value(value: Any) -> tuple[Any, bool]:
    """A patch value for a key the original lacks: nulls dropped, and a map carrying ``$patch`` not kept."""
    if isinstance(value, dict):
        if PATCH in value:
            return None, False
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            v, keep = _new_value(v)
            if keep:
                out[k] = v
        return out, True
    if isinstance(value, list):
        return [v for v, keep in map(_new_value, value) if keep], True
    return value, True


def _merge_map(original: Obj | None, patch: Obj, type_name: str | None) -> Obj:
    if PATCH in patch:
        directive = patch.pop(PATCH)
        if directive == "replace":
            return _new_value(patch)[0]
        if directive == "delete":
            return {}
        raise _bad(f"unknown patch type: {directive} in map: {patch}")
    original = {} if original is None else original
    _apply_retain_keys(original, patch)
    for key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        _apply_set_element_order(original, patch, key, type_name)

    for key, value in patch.items():
        deleting = key.startswith(DELETE_FROM_PRIMITIVE_LIST)
        if deleting:
            key = key[len(DELETE_FROM_PRIMITIVE_LIST):]
        elif value is None:
            original.pop(key, None)
            continue
        if key not in original or type(original[key]) is not type(value) and not _both_scalars(original[key], value):
            if not deleting:
                new, keep = _new_value(value)
                if keep:
                    original[key] = new
                else:
                    original.pop(key, None)
            continue
        fs = merge_schema.field(type_name, key)
        current = original[key]
        if isinstance(current, dict):
            original[key] = _merge_map(current, value, fs.type)
        elif isinstance(current, list) and (fs.merges_list or deleting):
            original[key] = _merge_list(current, value, fs, deleting=deleting)
        elif isinstance(current, list):
            original[key] = _new_value(value)[0]  # no merge strategy: the patch's list replaces the live one
        else:
            original[key] = value
    return original


def _both_scalars(a: Any, b: Any) -> bool:
    return not isinstance(a, (dict, list)) and not isinstance(b, (dict, list))


def _apply_retain_keys(original: Obj, patch: Obj) -> None:
    """``$retainKeys``: clear every key of ``original`` the list does not name (used to switch a union
    such as DeploymentStrategy from RollingUpdate to Recreate)."""
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list):
        raise _bad("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is not None and not key.startswith((SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE_LIST)) \
                and key not in retain:
            raise _bad("invalid patch format of retainKeys")
    for key in [k for k in original if k not in retain]:
        del original[key]


def _apply_set_element_order(original: Obj, patch: Obj, directive: str, type_name: str | None) -> None:
    """``$setElementOrder/<list>``: merge the list, then order its items as the directive says; items
    only the server has keep their place relative to the live list."""
    order = patch.pop(directive)
    key = directive[len(SET_ELEMENT_ORDER):]
    if not isinstance(order, list) or not key:
        raise _bad("invalid patch format of setElementOrder list")
    fs = merge_schema.field(type_name, key)
    live, patched = original.get(key), patch.pop(key, None)
    if live is not None and not isinstance(live, list) or patched is not None and not isinstance(patched, list):
        raise _bad("invalid patch format of setElementOrder list")
    _check_order(patched or [], order, fs.patch_merge_key)
    if live is None and patched is None:
        return
    if live is None:
        merged = _new_value(patched)[0]
    elif patched is None:
        merged = live
    else:
        merged = _merge_list(live, patched, fs, deleting=False) if fs.merges_list else _new_value(patched)[0]
    ident = _identity(fs.patch_merge_key)
    wanted = [ident(item) for item in order]
    in_patch = [item for item in merged if ident(item) in wanted]
    server_only = [item for item in merged if ident(item) not in wanted]
    original[key] = _normalize_order(in_patch, server_only, wanted, [ident(i) for i in live or []], ident)


def _check_order(patched: list, order: list, merge_key: str) -> None:
    """Every patch item (bar ``$patch`` ones) must appear in the order list, in the same relative order."""
    ident = _identity(merge_key)
    items = [ident(i) for i in patched if not (isinstance(i, dict) and PATCH in i)]
    wanted = iter(ident(i) for i in order)
    if not all(any(item == w for w in wanted) for item in items):
        raise _bad(f"The order in patch list:\n{patched}\n doesn't match $setElementOrder list:\n{order}")


def _identity(merge_key: str) -> Callable[[Any], Any]:
    """What identifies a list item: its merge key's value for lists of maps, the item itself otherwise."""
    if not merge_key:
        return lambda item: item

    def key_of(item: Any) -> Any:
        if not isinstance(item, dict):
            raise _bad(f"expected a map in a list merged by {merge_key!r}, got {item!r}")
        if merge_key not in item:
            raise _bad(f"map: {item} does not contain declared merge key: {merge_key}")
        return item[merge_key]
    return key_of


def _merge_list(original: list, patch: list, fs: FieldSchema, *, deleting: bool) -> list:
    """Merge a list whose patch strategy is ``merge``: by merge key for maps, as a set for primitives."""
    if not original and not patch:
        return original
    _element_kind(original + patch)
    if not any(isinstance(i, dict) for i in original + patch):
        if deleting:
            return [item for item in original if item not in patch]
        merged: list = []
        for item in original + patch:
            if item not in merged:
                merged.append(item)
        ident = _identity("")
    else:
        if not fs.patch_merge_key:
            raise _bad("cannot merge lists without merge key")
        ident = _identity(fs.patch_merge_key)
        original, patch = _special_elements(original, patch, ident)
        merged = list(original)
        for item in patch:
            key = ident(item)
            at = next((n for n, cur in enumerate(merged) if ident(cur) == key), None)
            if at is None:
                merged.append(_new_value(item)[0])
            else:
                merged[at] = _merge_map(merged[at], item, fs.type)
    wanted = [ident(i) for i in patch]
    in_patch = [item for item in merged if ident(item) in wanted]
    server_only = [item for item in merged if ident(item) not in wanted]
    return _normalize_order(in_patch, server_only, wanted, [ident(i) for i in original], ident)


def _element_kind(items: list) -> None:
    if any(isinstance(i, list) for i in items):
        raise PatchError(422, "lists of lists are not supported")
    if len({isinstance(i, dict) for i in items}) > 1:
        raise _bad("mismatched element types in a merged list")


def _special_elements(original: list, patch: list, ident: Callable[[Any], Any]) -> tuple[list, list]:
    """Handle ``{"$patch": "delete", <key>: ...}`` and ``{"$patch": "replace"}`` items of a patch list."""
    plain, replace = [], False
    for item in patch:
        directive = item.get(PATCH)
        if directive is None:
            plain.append(item)
        elif directive == "delete":
            key = ident(item)
            original = [cur for cur in original if ident(cur) != key]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _bad("merging lists cannot yet be specified in the patch")
        else:
            raise _bad(f"unknown patch type: {directive} in map: {item}")
    return (plain, []) if replace else (original, plain)


def _normalize_order(in_patch: list, server_only: list, patch_order: list, server_order: list,
                     ident: Callable[[Any], Any]) -> list:
    """Order patch items as the patch does and server-only items as the live list does, then interleave
    them: a server-only item goes before a patch item only when the live list has it first."""
    def position(order: list, item: Any) -> int:
        key = ident(item)
        return next((n for n, k in enumerate(order) if k == key), -1)

    in_patch = sorted(in_patch, key=lambda item: position(patch_order, item))
    server_only = sorted(server_only, key=lambda item: position(server_order, item))
    out, i, j = [], 0, 0
    while i < len(server_only) or j < len(in_patch):
        if j < len(in_patch) and i < len(server_only):
            left, right = position(server_order, server_only[i]), position(server_order, in_patch[j])
            take_left = left >= 0 and right >= 0 and left < right
        else:
            take_left = i < len(server_only)
        if take_left:
            out.append(server_only[i])
            i += 1
        else:
            out.append(in_patch[j])
            j += 1
    return out
