"""REST handlers: one function per verb, from a parsed request to a response body.

Mirrors ``k8s.io/apiserver/pkg/endpoints/handlers`` (``get.go``, ``create.go``, ``update.go``,
``patch.go``, ``delete.go``, ``watch.go``): decode, run the storage operation, encode. The aiohttp
plumbing (authentication, tracing, streaming) lives in ``server.py``; the subresources with storage
of their own (binding, eviction, scale, finalize, token) live beside their resource's strategy under
``registry/``, the self reviews in ``registry/reviews.py``; ``rest.py`` and ``server.py`` route to them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apiserver import apply, errors, fieldtypes, patch, request
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.request import RequestInfo
from labkit.apiserver.resources import Resource
from labkit.apiserver.storage import Registry


@dataclasses.dataclass
class Call:
    """Everything a handler needs about one request."""

    info: RequestInfo
    registry: Registry
    user: UserInfo
    query: dict[str, str]
    query_all: dict[str, list[str]]
    body: bytes
    content_type: str
    user_agent: str
    now: dt.datetime
    revision: int = 0  # set by writes, for the trace
    created_name: str = ""  # set by creates: the name the server gave (generateName)
    warnings: list[str] = dataclasses.field(default_factory=list)  # sent back as Warning headers

    def check_fields(self, obj: Obj, *, group_version: str = "", kind: str = "", patch: bool = False,
                     decoded: bool = False, patched: bool = False) -> Obj:
        """Type-check a request object of the resource's kind (or ``kind``), dropping, warning about or
        refusing unknown fields as ``fieldValidation`` says (:mod:`fieldtypes`). ``decoded``: ``obj`` is
        this request's body, so fields written twice in it count too, and errors are the decoder's;
        ``patched``: ``obj`` is the result of this request's (JSON) patch, whose duplicates count."""
        validation = self.validation
        res = self.resource
        model = fieldtypes.model_name(group_version or res.group_version, kind or res.kind)
        if model is None:
            return obj
        try:
            found = fieldtypes.check(obj, model, validation=validation, patch=patch,
                                     body=self.body if decoded else None, patched_by=self.body if patched else None,
                                     yaml=request.media_type(self.content_type) == request.YAML)
        except errors.ApiError as e:
            if not decoded:
                raise
            data_kind, version = obj.get("kind", ""), str(obj.get("apiVersion", "")).rpartition("/")[2]
            raise errors.bad_request(f'{data_kind} in version "{version}" cannot be handled as a {data_kind}: '
                                     f"{e.message}") from None
        if validation == "Warn":
            self.warnings.extend(found)
        return obj

    @property
    def validation(self) -> str:
        """``fieldValidation``: Strict, Warn (the default) or Ignore."""
        validation = self.query.get("fieldValidation") or "Warn"
        if validation not in fieldtypes.VALIDATION:
            raise errors.bad_request(f'fieldValidation "{validation}" is not supported: '
                                     "use one of Ignore, Warn, Strict")
        return validation

    @property
    def resource(self) -> Resource:
        """The resource addressed (every call a registry handles addresses one)."""
        assert self.info.resource is not None, f"{self.info.path} is not a resource request"
        return self.info.resource

    @property
    def dry_run(self) -> bool:
        return request.dry_run(self.query_all.get("dryRun", []))

    def delete_dry_run(self, options: Obj) -> bool:
        """A delete (or eviction) is a dry run when its query or its DeleteOptions body says ``dryRun``."""
        return self.dry_run or request.dry_run(list(options.get("dryRun") or []))

    @property
    def manager(self) -> str:
        """The field manager: ``fieldManager`` or, as kube-apiserver does, the user agent's program name."""
        return self.query.get("fieldManager") or self.user_agent.split("/")[0] or "unknown"


def patch_failed(e: patch.PatchError) -> errors.ApiError:
    """A patch that cannot be applied: 400 for a malformed one, 422 for one that does not fit the object."""
    return errors.ApiError(e.code, "BadRequest" if e.code == 400 else "Invalid", e.message)


def _track(call: Call, old: Obj | None, new: Obj, subresource: str = "") -> Obj:
    apply.track_update(old, new, manager=call.manager, now=rfc3339(call.now), subresource=subresource)
    return new


def create(call: Call) -> tuple[int, Obj]:
    reg, info = call.registry, call.info
    obj = call.check_fields(request.decode_object(call.body, call.content_type, reg.resource), decoded=True)
    meta = obj.setdefault("metadata", {})
    if info.name and meta.get("name") not in (None, info.name):  # POST to a named URL
        raise errors.name_mismatch(meta.get("name"), info.name)
    _track(call, None, obj)
    created, call.revision = reg.create(info.namespace, obj, user=call.user, dry_run=call.dry_run)
    call.created_name = created["metadata"]["name"]
    return 201, created


def update(call: Call) -> tuple[int, Obj]:
    reg, info = call.registry, call.info
    obj = call.check_fields(request.decode_object(call.body, call.content_type, reg.resource), decoded=True)
    meta = obj.setdefault("metadata", {})
    if meta.get("name") and meta["name"] != info.name:
        raise errors.name_mismatch(meta["name"], info.name)
    if reg.resource.namespaced and meta.get("namespace") and meta["namespace"] != info.namespace:
        raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                 "sent on the request")
    meta["name"] = info.name

    def mutate(old: Obj) -> Obj:
        return _track(call, old, obj, info.subresource)

    updated, call.revision = reg.update(info.namespace, info.name, mutate, user=call.user, dry_run=call.dry_run,
                                        subresource=info.subresource,
                                        precondition_rv=meta.get("resourceVersion") or None)
    return 200, updated


def patch_object(call: Call) -> tuple[int, Obj]:
    """PATCH: merge, strategic merge or JSON patch of the live object; ``apply-patch+yaml`` is
    server-side apply, which creates the object when it is missing."""
    reg, info = call.registry, call.info
    mt = request.media_type(call.content_type)
    doc = request.decode_body(call.body, call.content_type, allowed=request.PATCH_TYPES)
    if mt == request.APPLY_PATCH:
        return _server_side_apply(call, doc)
    if mt == request.JSON_PATCH:
        if not isinstance(doc, list):
            raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    elif not isinstance(doc, dict):
        raise errors.bad_request("the patch must be a JSON object")
    else:
        call.check_fields(doc, patch=True)

    def mutate(old: Obj) -> Obj:
        try:
            if mt == request.JSON_PATCH:
                new = patch.apply_json_patch(old, doc)
            elif mt == request.MERGE_PATCH:
                new = patch.apply_merge_patch(old, doc)
            else:
                new = patch.apply_strategic_merge_patch(old, doc, kind=reg.resource.kind)
        except patch.PatchError as e:
            raise patch_failed(e) from None
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise errors.unprocessable("the patch removed the object's metadata")
        request.check_type(new, reg.resource.kind, reg.resource.group_version)
        return _track(call, old, call.check_fields(new, patched=True), info.subresource)

    pinned = doc["metadata"].get("resourceVersion") if isinstance(doc, dict) and isinstance(
        doc.get("metadata"), dict) else None
    updated, call.revision = reg.update(info.namespace, info.name, mutate, user=call.user, dry_run=call.dry_run,
                                        subresource=info.subresource, precondition_rv=pinned or None)
    return 200, updated


def _server_side_apply(call: Call, applied: Any) -> tuple[int, Obj]:
    reg, info = call.registry, call.info
    if not isinstance(applied, dict):
        raise errors.bad_request("the apply patch must be a YAML or JSON object")
    if not applied.get("apiVersion") or not applied.get("kind"):
        raise errors.bad_request("apiVersion and kind must be set in an apply patch")
    request.check_type(applied, reg.resource.kind, reg.resource.group_version)
    repeated = request.yaml_duplicates(call.body) if call.validation != "Ignore" else []
    if repeated and call.validation == "Strict":
        raise errors.bad_request("error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n"
                                 + "\n".join(f"  {r}" for r in repeated))
    call.warnings.extend(repeated)
    undeclared = apply.undeclared(applied, reg.resource.group_version, reg.resource.kind)
    if undeclared:  # whatever fieldValidation says. kube 1.33 answers it as a 500 it does not interpret, a bug
        raise errors.bad_request(undeclared)  # (kubernetes#139253); labkit answers 400 as its fix (#139255) does
    call.check_fields(applied)
    if not call.query.get("fieldManager"):
        raise errors.bad_request("PATCH, application/apply-patch+yaml requests require fieldManager to be set")
    meta = applied.setdefault("metadata", {})
    if meta.get("name", info.name) != info.name:
        raise errors.name_mismatch(meta.get("name"), info.name)
    force = call.query.get("force") == "true"
    now = rfc3339(call.now)

    def do_apply(live: Obj | None) -> Obj:
        try:
            return apply.server_side_apply(live, applied, manager=call.manager, force=force, now=now)
        except apply.ApplyConflict as e:
            raise _conflict_error(reg, info.name, e) from None
        except patch.PatchError as e:
            raise patch_failed(e) from None

    try:
        updated, call.revision = reg.update(info.namespace, info.name, do_apply, user=call.user,
                                            dry_run=call.dry_run, subresource=info.subresource)
        return 200, updated
    except errors.ApiError as e:
        if e.code != 404 or info.subresource:
            raise
    created, call.revision = reg.create(info.namespace, do_apply(None), user=call.user, dry_run=call.dry_run)
    call.created_name = created["metadata"]["name"]
    return 201, created


def _conflict_error(reg: Registry, name: str, conflict: apply.ApplyConflict) -> errors.ApiError:
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {conflict.printed[m]}", "field": f}
              for m, f in conflict.conflicts]
    return errors.ApiError(409, "Conflict", conflict.message(),
                           errors.details(name, reg.resource.group, reg.resource.plural, causes))


def delete(call: Call) -> tuple[int, Obj]:
    reg, info = call.registry, call.info
    options = request.delete_options(call.body, call.content_type, call.query)
    obj, _gone, call.revision = reg.delete(info.namespace, info.name, options, user=call.user,
                                           dry_run=call.delete_dry_run(options))
    return 200, obj


def delete_collection(call: Call) -> tuple[int, Obj]:
    reg, info = call.registry, call.info
    options = request.delete_options(call.body, call.content_type, call.query)
    before = reg.store.revision
    result = reg.delete_collection(info.namespace, options, label_selector=call.query.get("labelSelector", ""),
                                   field_selector=call.query.get("fieldSelector", ""), user=call.user,
                                   dry_run=call.delete_dry_run(options))
    call.revision = reg.store.revision if reg.store.revision != before else 0
    return 200, result


def get(call: Call) -> tuple[int, Obj]:
    return 200, call.registry.typed(call.registry.get(call.info.namespace, call.info.name))


def _list_options(call: Call) -> dict[str, Any]:
    q = call.query
    limit = request.parse_int64(q["limit"]) if "limit" in q else 0
    if "timeoutSeconds" in q:
        request.parse_int64(q["timeoutSeconds"])
    rv, match = q.get("resourceVersion", ""), q.get("resourceVersionMatch", "")
    if rv and not rv.isdigit():
        raise errors.bad_request(f"invalid resource version: {rv!r}")
    causes = []  # ``ValidateListOptions``
    if match:
        if not rv:
            causes.append("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion "
                          "is provided")
        if q.get("continue"):
            causes.append("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue "
                          "is provided")
        if match not in ("Exact", "NotOlderThan"):
            causes.append(f'resourceVersionMatch: Unsupported value: "{match}": supported values: "Exact", '
                          '"NotOlderThan", ""')
        if match == "Exact" and rv == "0":
            causes.append('resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for '
                          'resourceVersion "0"')
    if "sendInitialEvents" in q:
        causes.append("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list")
    if causes:
        joined = causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]"
        raise errors.unprocessable(f'ListOptions.meta.k8s.io "" is invalid: {joined}')
    return {"label_selector": q.get("labelSelector", ""), "field_selector": q.get("fieldSelector", ""),
            "limit": max(limit, 0), "continue_token": q.get("continue", ""),
            "resource_version": rv, "resource_version_match": match}


def list_objects(call: Call) -> tuple[int, Obj]:
    return 200, call.registry.list(call.info.namespace, **_list_options(call))


def list_json(call: Call) -> tuple[int, bytes]:
    """A list answered as JSON: serialized straight from the stored values."""
    return 200, call.registry.list_json(call.info.namespace, **_list_options(call))
