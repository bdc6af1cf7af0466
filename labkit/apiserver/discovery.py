"""Discovery: how kubectl and client-go learn which resources this server has.

Mirrors ``k8s.io/apiserver/pkg/endpoints/discovery`` (the legacy ``APIVersions``, ``APIGroupList``,
``APIGroup`` and ``APIResourceList`` documents) and ``discovery/aggregated`` (``APIGroupDiscoveryList``
of ``apidiscovery.k8s.io/v2`` and ``v2beta1``). As in ``endpoints/installer.go``, the aggregated
documents are converted from the legacy resource lists, so both always agree; everything comes from
:data:`labkit.apiserver.resources.RESOURCES`.

Negotiation is strict (api-surface.md §2.1): client-go picks its parser by the response
Content-Type, and kubectl 1.27-1.29 only understand ``v2beta1``, so an aggregated document is sent only
when its exact media type is in ``Accept``; anything else gets the legacy documents.

A group-version that an APIService brings (``Resource.aggregated``: ``metrics.k8s.io/v1beta1``) is
listed only while a server for it is registered (``served``, :mod:`labkit.apiserver.aggregator`), as
kube-aggregator lists only the APIServices it has. The groups of APIServices proxied to an extension
API server come as :class:`ExternalGroup` (``external``), after the built-in ones, with the resources
the aggregator last fetched from the backend (``Stale`` when its latest check failed; a version never
fetched is left out of the aggregated document).

Left out: ``storageVersionHash``, protobuf encodings of these documents, ETags.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

from labkit.apiserver.resources import GROUPS, RESOURCES, Resource

Doc = dict[str, Any]

_DISCOVERY_GROUP = "apidiscovery.k8s.io"
_DISCOVERY_KIND = "APIGroupDiscoveryList"

#: discovery version -> the Content-Type an aggregated response is sent with
AGGREGATED_CONTENT_TYPE: dict[str, str] = {
    v: f"application/json;g={_DISCOVERY_GROUP};v={v};as={_DISCOVERY_KIND}" for v in ("v2", "v2beta1")
}


@dataclasses.dataclass(frozen=True)
class ExternalVersion:
    """One version of a proxied group: its ``APIResourceList`` entries as fetched (None: never)."""

    version: str
    resources: list[Doc] | None
    fresh: bool


@dataclasses.dataclass(frozen=True)
class ExternalGroup:
    """A group an extension API server serves, its versions preferred first."""

    name: str
    versions: tuple[ExternalVersion, ...]

    def body(self) -> Doc:
        versions = [_group_version_entry(self.name, v.version) for v in self.versions]
        return {"name": self.name, "versions": versions, "preferredVersion": versions[0]}


def _resources(served: Collection[str]) -> list[Resource]:
    """Every resource, but those of an APIService whose group-version no server in ``served`` serves."""
    return [r for r in RESOURCES if not r.aggregated or r.group_version in served]


def _versions(group: str, served: Collection[str] = ()) -> list[str]:
    """The group's versions, preferred first (the order of :data:`RESOURCES`)."""
    return list(dict.fromkeys(r.version for r in _resources(served) if r.group == group))


def _groups(served: Collection[str]) -> list[str]:
    return [g for g in GROUPS if _versions(g, served)]


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _group_version_entry(group: str, version: str) -> Doc:
    return {"groupVersion": _group_version(group, version), "version": version}


# --- legacy documents --------------------------------------------------------------------------------


def api_versions(server_address: str) -> Doc:
    """``GET /api``: the legacy ``APIVersions`` (``server_address`` is ``host:port``)."""
    return {
        "kind": "APIVersions",
        "versions": _versions(""),
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _api_group_body(name: str, served: Collection[str]) -> Doc:
    versions = [_group_version_entry(name, v) for v in _versions(name, served)]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(served: Collection[str] = (), external: Sequence[ExternalGroup] = ()) -> Doc:
    """``GET /apis``: the legacy ``APIGroupList`` (every named group; the core group is at ``/api``)."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_api_group_body(g, served) for g in _groups(served) if g] + [g.body() for g in external]}


def api_group(name: str, served: Collection[str] = (), external: Sequence[ExternalGroup] = ()) -> Doc | None:
    """``GET /apis/<name>``: one ``APIGroup``, or None for a group this server does not have."""
    if name and name in _groups(served):
        return {"kind": "APIGroup", "apiVersion": "v1", **_api_group_body(name, served)}
    found = next((g for g in external if g.name == name), None)
    return {"kind": "APIGroup", "apiVersion": "v1", **found.body()} if found else None


def _api_resources(resource: Resource) -> list[Doc]:
    """The ``APIResource`` entries of one resource: itself, then ``<plural>/<subresource>`` each.

    ``group``/``version`` appear only on a subresource whose kind lives elsewhere (``deployments/scale``
    is ``autoscaling/v1`` ``Scale``); subresources have an empty ``singularName``, as in kube.
    """
    main: Doc = {"name": resource.plural, "singularName": resource.singular, "namespaced": resource.namespaced,
                 "kind": resource.kind, "verbs": list(resource.verbs)}
    if resource.short_names:
        main["shortNames"] = list(resource.short_names)
    if resource.categories:
        main["categories"] = list(resource.categories)
    entries = [main]
    for sub in resource.subresources:
        entry: Doc = {"name": f"{resource.plural}/{sub.name}", "singularName": "", "namespaced": resource.namespaced}
        if sub.group is not None:
            entry |= {"group": sub.group, "version": sub.version}
        entries.append(entry | {"kind": sub.kind, "verbs": list(sub.verbs)})
    return entries


def _resource_list(group: str, version: str, served: Collection[str] = ()) -> list[Doc]:
    """All entries of one group-version, sorted by name as the installer registers them."""
    entries = [e for r in _resources(served) if (r.group, r.version) == (group, version) for e in _api_resources(r)]
    return sorted(entries, key=lambda e: e["name"])


def api_resource_list(group: str, version: str, served: Collection[str] = ()) -> Doc | None:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``: the ``APIResourceList``, or None if unknown."""
    if version not in _versions(group, served):
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": _group_version(group, version),
            "resources": _resource_list(group, version, served)}


# --- aggregated discovery ------------------------------------------------------------------------------


def _response_kind(entry: Doc) -> Doc:
    return {"group": entry.get("group", ""), "version": entry.get("version", ""), "kind": entry["kind"]}


def _aggregated_resources(entries: list[Doc]) -> list[Doc]:
    """``ConvertGroupVersionIntoToDiscovery``: fold ``a/b`` entries into ``a``'s ``subresources``."""
    resources: dict[str, Doc] = {}
    for entry in entries:
        if "/" in entry["name"]:
            continue
        resources[entry["name"]] = {
            "resource": entry["name"],
            "responseKind": _response_kind(entry),
            "scope": "Namespaced" if entry["namespaced"] else "Cluster",
            "singularResource": entry["singularName"],
            "verbs": entry["verbs"],
            **{k: entry[k] for k in ("shortNames", "categories") if k in entry},
        }
    for entry in entries:
        parent, _, sub = entry["name"].partition("/")
        if sub:
            resources[parent].setdefault("subresources", []).append(
                {"subresource": sub, "responseKind": _response_kind(entry), "verbs": entry["verbs"]})
    return list(resources.values())


def _backend_entries(resources: list[Doc]) -> list[Doc]:
    """A backend's ``APIResource`` entries with the fields the conversion reads (a backend may leave
    some out), without a subresource of a resource it does not list, sorted by name."""
    entries = [{"name": str(r["name"]), "singularName": str(r.get("singularName") or ""),
                "namespaced": bool(r.get("namespaced")), "kind": str(r.get("kind") or ""),
                "verbs": [str(v) for v in r.get("verbs") or [] if isinstance(v, str)],
                **{k: r[k] for k in ("group", "version", "shortNames", "categories")
                   if isinstance(r.get(k), (str, list))}}
               for r in resources if isinstance(r, dict) and isinstance(r.get("name"), str) and r["name"]]
    names = {e["name"] for e in entries}
    return sorted((e for e in entries if e["name"].partition("/")[0] in names), key=lambda e: e["name"])


def _external_item(group: ExternalGroup) -> Doc:
    entries = [(v, _backend_entries(v.resources)) for v in group.versions if v.resources is not None]
    return {"metadata": {"name": group.name},
            "versions": [{"version": v.version, "resources": _aggregated_resources(resources),
                          "freshness": "Current" if v.fresh else "Stale"} for v, resources in entries]}


def aggregated_discovery(*, core: bool, version: str, served: Collection[str] = (),
                         external: Sequence[ExternalGroup] = ()) -> Doc:
    """The ``APIGroupDiscoveryList`` for ``/api`` (``core=True``) or ``/apis``; ``version`` is a key of
    :data:`AGGREGATED_CONTENT_TYPE`. The v2 and v2beta1 bodies differ only in ``apiVersion``."""
    if version not in AGGREGATED_CONTENT_TYPE:
        raise ValueError(f"unknown discovery version {version!r}")
    items = [
        {
            "metadata": {"name": group} if group else {},
            "versions": [{"version": v, "resources": _aggregated_resources(_resource_list(group, v, served)),
                          "freshness": "Current"} for v in _versions(group, served)],
        }
        for group in _groups(served) if (group == "") == core
    ]
    if not core:
        items += [item for item in map(_external_item, external) if item["versions"]]
    return {"kind": _DISCOVERY_KIND, "apiVersion": f"{_DISCOVERY_GROUP}/{version}", "metadata": {}, "items": items}


# --- content negotiation -------------------------------------------------------------------------------


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    """``Accept`` as ``(type/subtype, params)``, highest q first (ties keep their order); q=0 dropped."""
    ranges = []
    for clause in accept.split(","):
        media_type, *raw_params = (p.strip() for p in clause.split(";"))
        params = {}
        for raw in raw_params:
            key, _, value = raw.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        if media_type and q > 0:
            ranges.append((q, media_type.lower(), params))
    ranges.sort(key=lambda r: -r[0])
    return [(media_type, params) for _, media_type, params in ranges]


def discovery_media_type(accept: str | None) -> str | None:
    """The aggregated discovery version to answer ``/api`` or ``/apis`` with (``"v2"``/``"v2beta1"``), or
    None for the legacy documents. The first acceptable media range wins."""
    for media_type, params in _media_ranges(accept or ""):
        aggregated = (params.get("g"), params.get("as")) == (_DISCOVERY_GROUP, _DISCOVERY_KIND)
        if media_type == "application/json" and aggregated and params.get("v") in AGGREGATED_CONTENT_TYPE:
            return params["v"]
        if media_type in ("application/json", "application/*", "*/*") and not params:
            return None
    return None
