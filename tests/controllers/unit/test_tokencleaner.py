"""The token cleaner alone (``pkg/controller/bootstrap/tokencleaner_test.go``'s cases): expired
bootstrap-token Secrets are deleted, the others looked at again when they expire."""

from __future__ import annotations

import datetime as dt

import pytest

from labkit.controllers.tokencleaner import TokenCleaner
from labkit.testing import fail

from .test_bootstrapsigner import OTHER, token

KEY = "kube-system/bootstrap-token-abcdef"


def test_an_expired_token_is_deleted_with_its_uid_as_precondition(harness):
    h = harness(TokenCleaner, [token(ttl=dt.timedelta(seconds=-1)), token(OTHER, ttl=None)])
    h.drain()
    assert h.writes() == [("delete", "secrets", "kube-system", "bootstrap-token-abcdef", {
        "kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "uid-bootstrap-token-abcdef"}})]


def test_a_token_is_deleted_when_it_expires(harness):
    h = harness(TokenCleaner, [token(ttl=dt.timedelta(hours=1))])
    h.drain()
    assert h.writes() == [] and h.waiting() == [(KEY, 3600.0)]
    h.drain(advance=3600)
    assert [(a.verb, a.name) for a in h.writes()] == [("delete", "bootstrap-token-abcdef")]


def test_an_unreadable_expiration_counts_as_expired(harness):
    secret = token()
    secret["data"]["expiration"] = "bm90IGEgdGltZQ=="  # "not a time"
    h = harness(TokenCleaner, [secret])
    h.drain()
    assert [a.verb for a in h.writes()] == ["delete"]


@pytest.mark.parametrize("code", [404, 409])
def test_someone_else_deleting_it_first_is_not_an_error(harness, code):
    h = harness(TokenCleaner, [token(ttl=dt.timedelta(seconds=-1))])
    h.client.prepend_reactor("delete", "secrets", fail(code))
    h.drain()
    assert h.waiting() == []
