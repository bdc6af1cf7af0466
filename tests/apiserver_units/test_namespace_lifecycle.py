"""NamespaceLifecycle with its watch-fed namespace cache (kube's informer lister): the cache follows
the store, a miss reads the store, and a namespace deleted here is read live until the cache sees it go."""

from __future__ import annotations

import json

import pytest

from labkit.apiserver import errors
from labkit.apiserver.admission import FORCE_LIVE_LOOKUP_TTL, Attributes, NamespaceLifecycle, ObjectCache
from labkit.apiserver.resources import lookup
from labkit.apiserver.storage import decode
from labkit.store import open_store

PREFIX = "/registry/namespaces/"


def namespace(name: str, phase: str = "Active") -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                       "status": {"phase": phase}}).encode()


def attrs(operation: str, plural: str, namespace: str, name: str) -> Attributes:
    resource = lookup("", "v1", plural)
    assert resource is not None
    return Attributes(operation, resource, "", namespace, name, None, False)


@pytest.fixture
def store():
    s = open_store("memory")
    yield s
    s.close()


def test_cache_lists_then_follows_the_watch(store):
    store.put(PREFIX + "before", namespace("before"))
    cache = ObjectCache(store, PREFIX, decode)
    assert not cache.synced
    cache.start()
    assert cache.synced and cache.get("before")["metadata"]["name"] == "before"
    store.put(PREFIX + "after", namespace("after", "Terminating"))
    assert cache.get("after")["status"]["phase"] == "Terminating"
    store.delete(PREFIX + "before")
    assert cache.get("before") is None
    cache.stop()
    store.put(PREFIX + "late", namespace("late"))
    assert cache.get("late") is None and not cache.synced


def test_lifecycle_reads_the_cache_and_the_store_on_a_miss(store):
    live_reads: list[str] = []

    def live(plural: str, ns: str, name: str):
        live_reads.append(name)
        found = store.range(PREFIX + name).kvs
        return decode(found[0]) if found else None

    cache = ObjectCache(store, PREFIX, decode)
    clock = [0.0]
    plugin = NamespaceLifecycle(live, cache, clock=lambda: clock[0])
    store.put(PREFIX + "team", namespace("team"))
    plugin.validate(attrs("CREATE", "configmaps", "team", "cm"), {}, None)  # cache not started: live
    assert live_reads == ["team"]
    cache.start()
    plugin.validate(attrs("CREATE", "configmaps", "team", "cm"), {}, None)
    assert live_reads == ["team"]  # from the cache
    with pytest.raises(errors.ApiError) as missing:
        plugin.validate(attrs("CREATE", "configmaps", "nowhere", "cm"), {}, None)
    assert missing.value.code == 404 and live_reads[-1] == "nowhere"

    # deleted here: while the cache still says Active, creates read the store (Terminating there)
    plugin.validate(attrs("DELETE", "namespaces", "", "team"), None, None)
    cache.stop()  # the cache lags behind
    cache.synced = True
    store.put(PREFIX + "team", namespace("team", "Terminating"))
    with pytest.raises(errors.ApiError) as terminating:
        plugin.validate(attrs("CREATE", "configmaps", "team", "cm"), {}, None)
    assert terminating.value.code == 403 and live_reads[-1] == "team"
    clock[0] = FORCE_LIVE_LOOKUP_TTL + 1  # after kube's 30 s, the cache is trusted again
    reads = len(live_reads)
    plugin.validate(attrs("CREATE", "configmaps", "team", "cm"), {}, None)
    assert len(live_reads) == reads


def test_the_cache_lists_one_namespaces_objects_of_a_namespaced_resource(store):
    """What LimitRanger and ResourceQuota read: ``<prefix><namespace>/<name>`` keys, deletes forgotten."""
    prefix = "/registry/limitranges/"
    for key in ("a/one", "a/two", "ab/three"):
        store.put(prefix + key, json.dumps({"metadata": {"name": key.split("/")[1]}}).encode())
    cache = ObjectCache(store, prefix, decode)
    cache.start()
    store.delete(prefix + "a/two")
    assert [o["metadata"]["name"] for o in cache.list("a")] == ["one"]
    assert [o["metadata"]["name"] for o in cache.list("ab")] == ["three"]
    cache.stop()
