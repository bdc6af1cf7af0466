"""The components' client: certificate or bearer-token identities, and token clients sharing a pool."""

from __future__ import annotations

import asyncio

import pytest

from labkit import Cluster
from labkit.client import Client, ConnectionPool, resource_path

REVIEW = resource_path("authentication.k8s.io/v1", "selfsubjectreviews")


def test_token_clients_share_one_pool_and_keep_their_identities() -> None:
    with Cluster(nodes=0, runtime="sim", set_kubeconfig_env=False) as c:
        assert c.apiserver is not None
        pki = c.apiserver.pki
        ca = pki.directory / "ca.crt"

        async def main() -> list[str]:
            pool = ConnectionPool(ca_file=ca, limit=1)
            clients = [Client(c.url, ca_file=ca, pool=pool, user_agent="test",
                              token=pki.issue_token(user=f"user-{i}", groups=["system:masters"]))
                       for i in range(6)]
            reviews = await asyncio.gather(*(cl.create(REVIEW, {"apiVersion": "authentication.k8s.io/v1",
                                                                "kind": "SelfSubjectReview"}) for cl in clients))
            watch = clients[0].watch(resource_path("v1", "configmaps", namespace="default"),
                                     fieldSelector="metadata.name!=kube-root-ca.crt")  # the test's own only
            first = asyncio.ensure_future(watch.__anext__())
            await asyncio.sleep(0.2)
            # the watch holds a connection outside the request limit (1), so requests still go through
            await asyncio.wait_for(clients[1].create(resource_path("v1", "configmaps", namespace="default"),
                                                     {"metadata": {"name": "x"}}), 5)
            kind, obj = await asyncio.wait_for(first, 5)
            assert (kind, obj["metadata"]["name"]) == ("ADDED", "x")
            await watch.aclose()
            for cl in clients:
                await cl.close()
            await pool.close()
            return [r["status"]["userInfo"]["username"] for r in reviews]

        assert c.run(main()) == [f"user-{i}" for i in range(6)]


def test_a_client_needs_exactly_one_kind_of_credential(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ca = tmp_path / "ca.crt"
    with pytest.raises(ValueError):
        Client("https://127.0.0.1:1", ca_file=ca, user_agent="t")
    with pytest.raises(ValueError):
        Client("https://127.0.0.1:1", ca_file=ca, cert_file=ca, key_file=ca, token="t", user_agent="t")
