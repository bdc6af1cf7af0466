"""Generic REST storage: how any resource is created, read, updated and deleted in the store.

Mirrors ``k8s.io/apiserver/pkg/registry/generic/registry/store.go`` (``Create``, ``Update`` via
``GuaranteedUpdate``, ``Delete`` with graceful deletion and finalizers, ``List`` with selectors and
``limit``/``continue``) over ``k8s.io/apiserver/pkg/storage/etcd3/store.go`` (each write a
compare-and-swap transaction on ``mod_revision``; ``resourceVersion`` *is* the store revision).

What each resource does differently comes from its strategy, and for the few with storage of their
own from a subclass of :class:`Registry` beside it (both in ``labkit/apiserver/registry``). Writes
run the admission chain; ``dry_run`` runs everything but the store write. Watches are served by the
watch cache (:mod:`labkit.apiserver.watch`); lists and gets read the store. Left out: storage
versions and encryption at rest.
"""

from __future__ import annotations

import base64
import builtins
import datetime as dt
import json
import posixpath
from collections.abc import Callable
from typing import Any

from labkit import codec
from labkit import store as kv
from labkit.apimachinery.fields import parse_field_selector
from labkit.apimachinery.labels import SelectorError, parse_label_selector
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apiserver import errors
from labkit.apiserver.admission import AdmissionChain, Attributes
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.resources import Resource
from labkit.apiserver.validation import validate_object_meta, validate_object_meta_update
from labkit.ids import IdSource

Mutation = Callable[[Obj], Obj]

#: metadata fields the server owns; a client's values are ignored on create
_SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion",
                "generation", "selfLink")
_CAS_RETRIES = 16
#: server-side subresources that change fields the main resource may not (``spec.nodeName`` by binding,
#: ``spec.finalizers`` by finalize); they do their own checks and skip the update strategy
TRUSTED_SUBRESOURCES = ("binding", "finalize")


def encode(obj: Obj) -> bytes:
    """The stored form: JSON without ``resourceVersion`` (the store revision supplies it)."""
    meta = obj.get("metadata", {})
    if "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return codec.dumps(obj)


def decode(item: kv.KeyValue, revision: int | None = None) -> Obj:
    obj = codec.loads(item.value)
    obj["metadata"]["resourceVersion"] = str(revision or item.mod_revision)
    return obj


_METADATA = b'"metadata":{'


def _with_resource_version(item: kv.KeyValue) -> bytes:
    """The stored JSON with ``metadata.resourceVersion`` spliced in. Every write stores objects with
    apiVersion, kind and metadata first (:meth:`Registry.typed`), so the object's own metadata is the
    first one in the bytes."""
    at = item.value.find(_METADATA, 0, 512)
    if at < 0:
        return codec.dumps(decode(item))
    at += len(_METADATA)
    return b'%s"resourceVersion":"%d",%s' % (item.value[:at], item.mod_revision, item.value[at:])


def body_of(obj: Obj) -> Obj:
    """Everything but metadata and status: what a generation bump tracks."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Registry:
    """The REST storage of one resource."""

    def __init__(self, resource: Resource, store: kv.Store, *, ids: IdSource, admission: AdmissionChain,
                 clock: Callable[[], dt.datetime]) -> None:
        self.resource = resource
        self.strategy = resource.strategy
        self.store = store
        self.ids = ids
        self.admission = admission
        self.clock = clock

    # --- helpers ---------------------------------------------------------------------------------

    def _attrs(self, op: str, ns: str, name: str, user: UserInfo | None, dry_run: bool, sub: str = "") -> Attributes:
        return Attributes(op, self.resource, sub, ns, name, user, dry_run)

    def _not_found(self, name: str) -> errors.ApiError:
        return errors.not_found(self.resource.plural, name, self.resource.group)

    def _invalid(self, name: str, causes: list) -> errors.ApiError:
        return errors.invalid(self.resource.kind, name, causes, self.resource.group)

    def typed(self, obj: Obj) -> Obj:
        """Set apiVersion and kind first, as the wire format has them."""
        rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        return {"apiVersion": self.resource.group_version, "kind": self.resource.kind, **rest}

    def _read(self, ns: str, name: str) -> tuple[Obj, kv.KeyValue]:
        result = self.store.range(self.resource.key(ns, name))
        if not result.kvs:
            raise self._not_found(name)
        return decode(result.kvs[0]), result.kvs[0]

    # --- reads -----------------------------------------------------------------------------------

    def get(self, ns: str, name: str) -> Obj:
        return self._read(ns, name)[0]

    def field_set(self, obj: Obj) -> dict[str, str]:
        meta = obj.get("metadata", {})
        fields = {"metadata.name": meta.get("name", "")}
        if self.resource.namespaced:
            fields["metadata.namespace"] = meta.get("namespace", "")
        fields.update(self.strategy.field_labels(obj))
        return fields

    def trigger_value(self, obj: Obj) -> str:
        """The value of this resource's watch trigger field in ``obj``."""
        field = self.strategy.trigger_field
        if field == "metadata.name":
            return obj["metadata"].get("name", "")
        return self.field_set(obj).get(field, "")

    def trigger(self, field_selector: str) -> str | None:
        """The value a watch with this (valid) field selector requires of the trigger field, if any."""
        fields = parse_field_selector(field_selector or "")
        return next((v for f, op, v in fields.requirements if f == self.strategy.trigger_field and op == "="), None)

    def matcher(self, label_selector: str, field_selector: str) -> Callable[[Obj], bool]:
        """A predicate for list and watch filtering; bad selectors are 400s."""
        try:
            labels = parse_label_selector(label_selector or "")
            fields = parse_field_selector(field_selector or "")
        except SelectorError as e:
            raise errors.bad_request(str(e)) from None

        supported = self.field_set({"metadata": {}})
        for field, _op, _value in fields.requirements:
            if field not in supported:
                raise errors.bad_request(f"field label not supported: {field}")

        def matches(obj: Obj) -> bool:
            if not labels.matches(obj.get("metadata", {}).get("labels") or {}):
                return False
            return not fields.requirements or fields.matches(self.field_set(obj))

        return matches

    def list(self, ns: str, **options: Any) -> Obj:
        """A ``<Kind>List``; with ``limit``, pages read at one revision, as etcd3's store does. Options:
        ``label_selector``, ``field_selector``, ``limit``, ``continue_token``, ``resource_version``,
        ``resource_version_match``."""
        items, meta = self._select(ns, **options)
        return {"apiVersion": self.resource.group_version, "kind": f"{self.resource.kind}List", "metadata": meta,
                "items": [self.typed(obj if obj is not None else decode(item)) for item, obj in items]}

    def list_json(self, ns: str, **options: Any) -> bytes:
        """The same list, serialized. Without selectors the stored JSON of each item is used as it is,
        with only its resourceVersion added: no decoding and re-encoding of a thousand objects."""
        items, meta = self._select(ns, **options)
        head = codec.dumps({"apiVersion": self.resource.group_version, "kind": f"{self.resource.kind}List",
                            "metadata": meta})[:-1]
        body = b",".join(_with_resource_version(item) if obj is None else codec.dumps(self.typed(obj))
                         for item, obj in items)
        return head + b',"items":[' + body + b"]}"

    def _select(self, ns: str, *, label_selector: str = "", field_selector: str = "", limit: int = 0,
                continue_token: str = "", resource_version: str = "",
                resource_version_match: str = "") -> tuple[builtins.list[tuple[kv.KeyValue, Obj | None]], Obj]:
        """The page of items to list and the list's metadata; an item comes decoded when a selector
        had to look inside it."""
        matches = self.matcher(label_selector, field_selector) if label_selector or field_selector else None
        prefix = self.resource.key_prefix(ns or None)
        revision, start = 0, prefix
        if continue_token:
            revision, start = self._decode_continue(continue_token, prefix)
        elif resource_version_match == "Exact" and resource_version:
            revision = _parse_rv(resource_version)
        elif resource_version not in ("", "0") and resource_version_match == "NotOlderThan":
            if _parse_rv(resource_version) > self.store.revision:
                raise errors.too_large_resource_version(resource_version, self.store.revision, 1)  # the watch cache's
        try:
            page = self.store.range(prefix, prefix=True, revision=revision)
        except kv.Compacted:
            raise errors.gone("The provided continue parameter is too old to display a consistent list result. "
                              "You can start a new list without the continue parameter.") from None
        except kv.FutureRevision:
            raise errors.too_large_resource_version(revision, self.store.revision) from None  # etcd's
        items: list[tuple[kv.KeyValue, Obj | None]] = []
        next_key = ""
        for item in page.kvs:
            if item.key < start:
                continue
            if limit and len(items) == limit:
                next_key = item.key
                break
            if matches is None:
                items.append((item, None))
            elif matches(obj := decode(item)):
                items.append((item, obj))
        meta: dict[str, Any] = {"resourceVersion": str(page.revision if not revision else revision)}
        if next_key:
            meta["continue"] = self._encode_continue(int(meta["resourceVersion"]), next_key, prefix)
        return items, meta

    @staticmethod
    def _encode_continue(revision: int, start: str, prefix: str) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start.removeprefix(prefix)})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode_continue(token: str, prefix: str) -> tuple[int, str]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            revision, start = int(data["rv"]), str(data["start"])
        except (ValueError, KeyError, TypeError):
            raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                     "(version meta.k8s.io/v1)") from None
        if data.get("v") != "meta.k8s.io/v1":
            raise errors.bad_request("continue key is not valid: server does not recognize this encoded version")
        # as kube's decodeContinue: a start key that path-cleaning would change could reach outside the prefix
        if revision <= 0 or not start or posixpath.normpath("/" + start) != "/" + start:
            raise errors.bad_request("continue key is not valid")
        return revision, prefix + start

    # --- writes ----------------------------------------------------------------------------------

    def create(self, ns: str, obj: Obj, *, user: UserInfo | None = None, dry_run: bool = False) -> tuple[Obj, int]:
        """Create; returns the stored object and the revision written (0 on dry run)."""
        res = self.resource
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise self._invalid("", [errors.Cause("FieldValueInvalid", "must be an object", "metadata")])
        if res.namespaced:
            if meta.get("namespace") and ns and meta["namespace"] != ns:
                raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                         "sent on the request")
            meta["namespace"] = meta.get("namespace") or ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            scope = f"{self.resource.plural}/{meta.get('namespace', '')}/{meta['generateName']}"
            meta["name"] = f"{meta['generateName']}{self.ids.suffix(scope)}"
        for field in _SERVER_META:
            meta.pop(field, None)
        self.strategy.prepare_for_create(obj)
        attrs = self._attrs("CREATE", meta.get("namespace", ""), meta.get("name", ""), user, dry_run)
        self.admission.admit(attrs, obj, None)
        self.strategy.default(obj)
        meta["uid"] = self.ids.uid(f"{self.resource.plural}/{meta.get('namespace', '')}/{meta.get('name', '')}")
        meta["creationTimestamp"] = rfc3339(self.clock())
        if self.strategy.tracks_generation:
            meta["generation"] = 1
        causes = validate_object_meta(meta, namespaced=res.namespaced, name_rule=self.strategy.name_rule)
        causes += self.strategy.validate(obj)
        if causes:
            raise self._invalid(meta.get("name") or meta.get("generateName", ""), causes)
        self.admission.validate(attrs, obj, None)
        obj = self.typed(obj)
        key = res.key(meta.get("namespace"), meta["name"])
        if dry_run:
            if self.store.range(key).kvs:
                raise errors.already_exists(res.plural, meta["name"], res.group)
            return obj, 0
        txn = self.store.txn([kv.Compare(key, "mod_revision", "==", 0)], [kv.Put(key, encode(obj))])
        if not txn.succeeded:
            raise errors.already_exists(res.plural, meta["name"], res.group)
        meta["resourceVersion"] = str(txn.revision)
        return obj, txn.revision

    def update(self, ns: str, name: str, mutate: Mutation, *, user: UserInfo | None = None, dry_run: bool = False,
               subresource: str = "", precondition_rv: str | None = None) -> tuple[Obj, int]:
        """Read, ``mutate`` a copy, write with compare-and-swap (``GuaranteedUpdate``). A resourceVersion
        the caller pinned (``precondition_rv``, or the one ``mutate`` returns) must be the object's, else
        409 Conflict; without one the update is unconditional. A race lost between the read and the
        write reads and mutates again, so it ends in a 409 only if it made a pinned version stale."""
        res = self.resource
        for _ in range(_CAS_RETRIES):
            old, item = self._read(ns, name)
            new = mutate(decode(item))  # a private copy: parsing the stored bytes again beats deepcopy
            new_meta = new.setdefault("metadata", {})
            rv = precondition_rv if precondition_rv is not None else new_meta.get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(res.plural, name, group=res.group)
            if new_meta.get("name", name) != name:
                raise errors.name_mismatch(new_meta.get("name"), name)
            new = self._prepare_update(new, old, subresource, item)
            attrs = self._attrs("UPDATE", ns, name, user, dry_run, subresource)
            self.admission.admit(attrs, new, old)
            causes = validate_object_meta_update(new["metadata"], old["metadata"])
            causes += validate_object_meta(new["metadata"], namespaced=res.namespaced,
                                           name_rule=self.strategy.name_rule)
            causes += self._validate_update(new, old, subresource)
            if causes:
                raise self._invalid(name, causes)
            self.admission.validate(attrs, new, old)
            new = self.typed(new)
            if _same(new, old):
                return self.typed(old), 0
            if dry_run:
                return new, 0
            meta = new["metadata"]
            if self.should_delete_during_update(new):
                txn = self.store.txn([kv.Compare(item.key, "mod_revision", "==", item.mod_revision)],
                                     [kv.Delete(item.key)])
            else:
                txn = self.store.txn([kv.Compare(item.key, "mod_revision", "==", item.mod_revision)],
                                     [kv.Put(item.key, encode(new))])
            if txn.succeeded:
                meta["resourceVersion"] = str(txn.revision)
                return new, txn.revision
        raise errors.conflict(res.plural, name, "too many concurrent writers; try again", res.group)

    def _validate_update(self, new: Obj, old: Obj, subresource: str) -> builtins.list[errors.Cause]:
        """The strategy's update validation (kube's per-subresource strategies: a registry whose
        subresources validate differently says so here)."""
        return [] if subresource in TRUSTED_SUBRESOURCES else self.strategy.validate_update(new, old)

    def _prepare_update(self, new: Obj, old: Obj, subresource: str, item: kv.KeyValue) -> Obj:
        meta, old_meta = new["metadata"], old["metadata"]
        for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if field == "uid" and meta.get("uid"):
                continue  # a uid given must be the object's: validation says "field is immutable" otherwise
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if self.resource.namespaced:
            meta["namespace"] = old_meta.get("namespace")
        if subresource == "status":
            status = new.get("status")
            new = {**decode(item), "metadata": meta}
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif subresource not in TRUSTED_SUBRESOURCES:
            self.strategy.prepare_for_update(new, old)
        self.strategy.default(new)
        if self.strategy.tracks_generation and body_of(new) != body_of(old):
            meta["generation"] = old_meta.get("generation", 0) + 1
        return new

    def delete(self, ns: str, name: str, options: Obj | None = None, *, user: UserInfo | None = None,
               dry_run: bool = False) -> tuple[Obj, bool, int]:
        """Delete honouring preconditions, finalizers and grace periods. Returns the object, whether
        it is gone now (False: marked with deletionTimestamp), and the revision written."""
        res = self.resource
        options = options or {}
        for _ in range(_CAS_RETRIES):
            old, item = self._read(ns, name)
            meta = old["metadata"]
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise errors.conflict(res.plural, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                      f"UID in object meta: {meta.get('uid')}", res.group)
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
                raise errors.conflict(res.plural, name, "Precondition failed: ResourceVersion in precondition: "
                                      f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                      f"{meta.get('resourceVersion')}", res.group)
            self.admission.validate(self._attrs("DELETE", ns, name, user, dry_run), None, old)
            new = decode(item)
            graceful = self._mark_for_deletion(new, options)
            if graceful:
                if _same(new, old) or dry_run:
                    return self.typed(new), False, 0
                txn = self.store.txn([kv.Compare(item.key, "mod_revision", "==", item.mod_revision)],
                                     [kv.Put(item.key, encode(new))])
                if txn.succeeded:
                    new["metadata"]["resourceVersion"] = str(txn.revision)
                    return self.typed(new), False, txn.revision
                continue
            if dry_run:
                return self.typed(old), True, 0
            txn = self.store.txn([kv.Compare(item.key, "mod_revision", "==", item.mod_revision)], [kv.Delete(item.key)])
            if txn.succeeded:
                return self.typed(old), True, txn.revision
        raise errors.conflict(res.plural, name, "too many concurrent writers; try again", res.group)

    def should_delete_during_update(self, obj: Obj) -> bool:
        """An object marked for deletion whose last finalizer is gone is deleted by that update."""
        meta = obj["metadata"]
        return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers") and \
            not meta.get("deletionGracePeriodSeconds")

    def grace_period(self, obj: Obj, options: Obj) -> int:
        """Seconds of graceful deletion; 0 deletes at once. Pods override this."""
        return 0

    def _mark_for_deletion(self, obj: Obj, options: Obj) -> bool:
        """Set deletionTimestamp/finalizers as ``BeforeDelete`` does; True if the object must stay for now."""
        meta = obj["metadata"]
        policy = options.get("propagationPolicy")
        if options.get("orphanDependents") is True:
            policy = "Orphan"
        finalizers = list(meta.get("finalizers") or [])
        wanted = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(policy or "")
        if wanted and wanted not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append(wanted)
        grace = self.grace_period(obj, options)
        if meta.get("deletionTimestamp"):
            current = meta.get("deletionGracePeriodSeconds", 0)
            if grace < current:  # a shorter grace period may replace a longer one
                meta["deletionGracePeriodSeconds"] = grace
            return bool(finalizers) or meta["deletionGracePeriodSeconds"] > 0
        if not finalizers and grace == 0:
            return False
        now = self.clock()
        meta["deletionTimestamp"] = rfc3339(now + dt.timedelta(seconds=grace))
        meta["deletionGracePeriodSeconds"] = grace
        if finalizers:
            meta["finalizers"] = finalizers
        return True

    def delete_collection(self, ns: str, options: Obj | None, *, label_selector: str = "", field_selector: str = "",
                          user: UserInfo | None = None, dry_run: bool = False) -> Obj:
        listed = self.list(ns, label_selector=label_selector, field_selector=field_selector)
        deleted = []
        for obj in listed["items"]:
            try:
                deleted.append(self.delete(obj["metadata"].get("namespace", ""), obj["metadata"]["name"], options,
                                           user=user, dry_run=dry_run)[0])
            except errors.ApiError as e:
                if e.code != 404:
                    raise
        return {**listed, "items": deleted}


def _same(a: Obj, b: Obj) -> bool:
    strip = lambda o: {**o, "metadata": {k: v for k, v in o["metadata"].items()  # noqa: E731
                                         if k not in ("resourceVersion", "managedFields")}}
    return strip(a) == strip(b)


def _parse_rv(value: str) -> int:
    try:
        rv = int(value)
    except ValueError:
        raise errors.bad_request(f"invalid resource version: {value!r}") from None
    if rv < 0:
        raise errors.bad_request(f"invalid resource version: {value!r}")
    return rv
