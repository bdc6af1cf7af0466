"""An update's optimistic concurrency, as kube's ``GuaranteedUpdate``: a resourceVersion the client sent
must still be the object's (else 409 with kube's message), an update without one is not checked,
and a race the API server loses between its read and its write is retried unless the client pinned
a resourceVersion."""

from __future__ import annotations

import pytest

from labkit.apiserver.errors import ApiError

CONFLICT = ('Operation cannot be fulfilled on configmaps "cm": the object has been modified; please apply your '
            "changes to the latest version and try again")


def replace(body: dict):
    """The mutation of a PUT: the client's object, whatever is stored."""
    return lambda _old: {**body, "metadata": dict(body["metadata"])}


def rv_of(obj: dict) -> str:
    return obj["metadata"]["resourceVersion"]


@pytest.fixture
def configmaps(registry):
    reg = registry("configmaps")
    reg.create("default", {"metadata": {"name": "cm"}, "data": {"color": "blue"}})
    return reg


def test_a_stale_resource_version_is_a_409_with_kubes_message(configmaps):
    read = configmaps.get("default", "cm")
    other, _ = configmaps.update("default", "cm", lambda o: {**o, "data": {"color": "blue", "size": "L"}})
    mine = {**read, "data": {"color": "red"}}
    with pytest.raises(ApiError) as e:
        configmaps.update("default", "cm", replace(mine), precondition_rv=rv_of(read))
    assert (e.value.code, e.value.reason, e.value.message) == (409, "Conflict", CONFLICT)
    assert configmaps.get("default", "cm")["data"] == {"color": "blue", "size": "L"}
    written, _ = configmaps.update("default", "cm", replace({**mine, "metadata": {**mine["metadata"],
                                                                                  "resourceVersion": rv_of(other)}}),
                                   precondition_rv=rv_of(other))
    assert written["data"] == {"color": "red"}, "the current resourceVersion passes"


def test_an_update_without_resource_version_is_not_checked_and_overwrites(configmaps):
    read = configmaps.get("default", "cm")
    configmaps.update("default", "cm", lambda o: {**o, "data": {"color": "blue", "size": "L"}})
    meta = {k: v for k, v in read["metadata"].items() if k != "resourceVersion"}
    written, _ = configmaps.update("default", "cm", replace({**read, "metadata": meta, "data": {"color": "red"}}))
    assert written["data"] == {"color": "red"}, "the other writer's size is lost"


@pytest.mark.parametrize("pinned", [False, True])
def test_a_race_lost_between_read_and_write_is_retried_unless_the_client_pinned_a_version(configmaps, pinned):
    start = rv_of(configmaps.get("default", "cm"))
    raced = []

    def mutate(old: dict) -> dict:
        if not raced:  # another writer slips in after this read, before the compare-and-swap
            raced.append(configmaps.update("default", "cm", lambda o: {**o, "data": {"color": "green"}}))
        return {**old, "data": {"color": "red"}}

    if pinned:
        with pytest.raises(ApiError) as e:
            configmaps.update("default", "cm", mutate, precondition_rv=start)
        assert e.value.message == CONFLICT
    else:
        written, _ = configmaps.update("default", "cm", mutate)
        assert written["data"] == {"color": "red"} and int(rv_of(written)) > int(rv_of(raced[0][0]))
