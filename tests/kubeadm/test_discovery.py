"""``kubeadm join``'s token discovery before and around its requests, on a stand-in for the endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from labkit import bootstrap
from labkit.bootstrap import NO_CA_HASHES, JoinError, discover

TOKEN = "abcdef.0123456789abcdef"


class Answering:
    """A :class:`labkit.transport.Pool` whose every request gets one fixed answer; counts the requests."""

    requests = 0
    answer: tuple[int, bytes] = (200, b"{}")

    def __init__(self, *_: Any, **__: Any) -> None:
        pass

    async def request(self, *_: Any, **__: Any) -> tuple[int, bytes]:
        type(self).requests += 1
        return self.answer

    async def close(self) -> None:
        pass


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> type[Answering]:
    monkeypatch.setattr(bootstrap.transport, "Pool", Answering)
    Answering.requests = 0
    return Answering


def join_error(hashes: list[str], **kwargs: Any) -> str:
    with pytest.raises(JoinError) as e:
        asyncio.run(discover("127.0.0.1:6443", TOKEN, hashes, timeout=0.2, interval=0.1, **kwargs))
    return str(e.value)


def test_no_hash_is_refused_before_any_request_unless_told_to_skip_the_check(pool: type[Answering]) -> None:
    assert join_error([]) == NO_CA_HASHES
    assert NO_CA_HASHES.startswith('discovery.bootstrapToken.caCertHashes: Invalid value: "": using token-based '
                                   "discovery without caCertHashes can be unsafe.")
    assert pool.requests == 0
    # skipped: discovery asks (and, with no signature for the token, gives up after the timeout)
    assert "could not find a JWS signature" in join_error([], unsafe_skip_ca_verification=True)
    assert pool.requests > 0


def test_a_malformed_hash_is_refused_before_any_request(pool: type[Answering]) -> None:
    assert join_error(["sha256:abcd"]) == ('invalid discovery token CA certificate hash: invalid hash "sha256:abcd", '
                                           "expected a 32 byte SHA-256 hash, found 2 bytes")
    assert join_error(["md5:abcd"]) == ('invalid discovery token CA certificate hash: unknown hash format "md5". '
                                        "Known format(s) are: sha256")
    assert pool.requests == 0


def test_an_answer_that_is_not_json_is_a_failed_request(pool: type[Answering]) -> None:
    pool.answer = (502, b"<html>502 Bad Gateway</html>")
    assert join_error(["sha256:" + "0" * 64]) == (
        "failed to request the cluster-info ConfigMap: the answer (HTTP 502) is not a JSON object")
