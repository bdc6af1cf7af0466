"""A resource served in more than one version: one store, converted on the way in and out.

Mirrors what kube-apiserver's handlers do with a request for a version that is not the storage version
(``k8s.io/apiserver/pkg/endpoints/handlers``: the request scope's ``Convertor`` decodes the body into
the internal version, storage keeps the storage version, the response is encoded in the version asked
for; patches apply to the object in the version asked for). labkit has no internal version: a
:class:`VersionedRegistry` wraps the storage version's :class:`~labkit.apiserver.storage.Registry`
with the resource's :class:`~labkit.apiserver.resources.Conversion`. Watches of that version get
converted objects too: their watch cache reads the store through :meth:`VersionedRegistry.typed`.
The version may belong to another group than its storage (events.k8s.io/v1 Events are core/v1's),
and may check a create before converting it (``Conversion.validate_create``).
A Table is made from the stored object whatever the version asked for (``server.py`` answers it
from the storage registry), as kube prints Tables from its internal version.

Left out: conversion of ``managedFields`` between versions (each records the version it was made in).
"""

from __future__ import annotations

from typing import Any

from labkit import codec
from labkit.apimachinery.meta import Obj
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.resources import Resource
from labkit.apiserver.storage import Mutation, Registry


class VersionedRegistry(Registry):
    """``resource`` (a version with a ``conversion``) served from ``storage``, its storage version's registry."""

    def __init__(self, resource: Resource, storage: Registry) -> None:
        super().__init__(resource, storage.store, ids=storage.ids, admission=storage.admission, clock=storage.clock)
        assert resource.conversion is not None, f"{resource.group_version} {resource.plural} is stored as it is"
        self.storage = storage
        self.to_storage = resource.conversion.to_storage
        self.from_storage = resource.conversion.from_storage
        self.validate_create = resource.conversion.validate_create

    def typed(self, obj: Obj) -> Obj:
        """An object read from the store (or already converted), in this version."""
        return obj if obj.get("apiVersion") == self.resource.group_version else self.from_storage(obj)

    def get(self, ns: str, name: str) -> Obj:
        return self.typed(self.storage.get(ns, name))

    def list(self, ns: str, **options: Any) -> Obj:
        listed = self.storage.list(ns, **options)
        return {**listed, "apiVersion": self.resource.group_version,
                "items": [self.typed(obj) for obj in listed["items"]]}

    def list_json(self, ns: str, **options: Any) -> bytes:
        return codec.dumps(self.list(ns, **options))

    def create(self, ns: str, obj: Obj, *, user: UserInfo | None = None, dry_run: bool = False) -> tuple[Obj, int]:
        causes = self.validate_create(obj) if self.validate_create else []
        if causes:
            raise self.storage._invalid(obj.get("metadata", {}).get("name") or "", causes)
        created, revision = self.storage.create(ns, self.to_storage(obj), user=user, dry_run=dry_run)
        return self.typed(created), revision

    def update(self, ns: str, name: str, mutate: Mutation, *, user: UserInfo | None = None, dry_run: bool = False,
               subresource: str = "", precondition_rv: str | None = None) -> tuple[Obj, int]:
        def converted(stored: Obj) -> Obj:
            return self.to_storage(mutate(self.typed(stored)))

        updated, revision = self.storage.update(ns, name, converted, user=user, dry_run=dry_run,
                                                subresource=subresource, precondition_rv=precondition_rv)
        return self.typed(updated), revision

    def delete(self, ns: str, name: str, options: Obj | None = None, *, user: UserInfo | None = None,
               dry_run: bool = False) -> tuple[Obj, bool, int]:
        obj, gone, revision = self.storage.delete(ns, name, options, user=user, dry_run=dry_run)
        return self.typed(obj), gone, revision
