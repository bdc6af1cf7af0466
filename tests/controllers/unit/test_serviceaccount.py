"""The service account controller alone (``pkg/controller/serviceaccount``): a ``default``
ServiceAccount in every namespace."""

from __future__ import annotations

import pytest

from labkit.controllers.serviceaccount import ServiceAccountsController
from labkit.testing import fail

from .objects import meta, namespace

SA = {"apiVersion": "v1", "kind": "ServiceAccount"}


def test_every_namespace_gets_a_default_service_account(harness):
    h = harness(ServiceAccountsController, [namespace("a"), namespace("b")])
    assert sorted(h.drain()) == ["a", "b"]
    assert sorted(h.writes(), key=lambda a: a.namespace) == [
        ("create", "serviceaccounts", ns, "", {**SA, "metadata": {"name": "default", "namespace": ns}})
        for ns in ("a", "b")]


def test_one_that_exists_is_left_and_one_deleted_comes_back(harness):
    h = harness(ServiceAccountsController, [namespace("a"), {**SA, "metadata": meta("default", "a")}])
    h.drain()
    assert h.actions() == []
    h.run(h.client.delete("/api/v1/namespaces/a/serviceaccounts/default"))
    h.clear()
    assert h.drain(watch=True) == ["a"]
    assert [tuple(a)[:3] for a in h.writes()] == [("create", "serviceaccounts", "a")]


def test_another_service_account_deleted_changes_nothing(harness):
    other = {**SA, "metadata": meta("robot", "a")}
    h = harness(ServiceAccountsController, [namespace("a"), {**SA, "metadata": meta("default", "a")}, other])
    h.drain()
    h.run(h.client.delete("/api/v1/namespaces/a/serviceaccounts/robot"))
    assert h.drain(watch=True) == []


def test_nothing_is_created_in_a_terminating_namespace(harness):
    h = harness(ServiceAccountsController, [namespace("doomed", terminating=True)])
    h.drain()
    assert h.actions() == []


@pytest.mark.parametrize("code", [409, 403], ids=["already exists", "namespace now terminating"])
def test_a_create_refused_for_a_known_reason_is_not_retried(harness, code):
    h = harness(ServiceAccountsController, [namespace("a")])
    h.client.prepend_reactor("create", "serviceaccounts", fail(code))
    h.drain()
    assert h.waiting() == []
