"""The request transport: keep-alive connections, a limit on them, and no reuse of a broken one."""

from __future__ import annotations

import asyncio

from labkit import Cluster
from labkit.client import Client, resource_path
from labkit.transport import Connection, Pool

CONFIGMAPS = resource_path("v1", "configmaps", namespace="default")


def admin_client(c: Cluster, limit: int) -> tuple[Client, list[Connection]]:
    """An admin client on a pool of ``limit`` connections, and the list of the connections it opens."""
    assert c.apiserver is not None
    d = c.apiserver.pki.directory
    client = Client(c.url, ca_file=d / "ca.crt", cert_file=d / "admin.crt", key_file=d / "admin.key", user_agent="test")
    pool = client._requests = Pool(c.url, client._ssl, limit=limit)
    opened: list[Connection] = []
    connect = pool._connect

    async def recorded() -> Connection:
        opened.append(await connect())
        return opened[-1]
    pool._connect = recorded  # type: ignore[method-assign]
    return client, opened


def test_requests_reuse_connections_within_the_limit_and_carry_queries() -> None:
    with Cluster(nodes=0, runtime="sim", set_kubeconfig_env=False) as c:
        async def main() -> None:
            client, opened = admin_client(c, limit=2)
            for name, app in (("a-b", "a"), ("c", "c")):
                await client.create(CONFIGMAPS, {"metadata": {"name": name, "labels": {"app": app}}})
            for _ in range(10):
                await client.get(CONFIGMAPS)
            assert len(opened) == 1  # one request at a time: one connection, kept alive
            await asyncio.gather(*(client.get(CONFIGMAPS) for _ in range(20)))
            assert len(opened) == 2  # twenty at once: no more connections than the limit
            picked = await client.get(CONFIGMAPS, labelSelector="app in (a,z)")  # spaces, parentheses, a comma
            assert [i["metadata"]["name"] for i in picked["items"]] == ["a-b"]
            inline = await client.get(CONFIGMAPS + "?labelSelector=app=c", limit="5")  # a query in the path too
            assert [i["metadata"]["name"] for i in inline["items"]] == ["c"]
            await client.close()
        c.run(main())


def test_a_request_cancelled_midway_closes_its_connection() -> None:
    with Cluster(nodes=0, runtime="sim", set_kubeconfig_env=False) as c:
        async def main() -> None:
            client, opened = admin_client(c, limit=1)
            await client.get(CONFIGMAPS)
            pending = asyncio.ensure_future(client.get(CONFIGMAPS))
            await asyncio.sleep(0)  # the request is written on the kept-alive connection, its answer not yet read
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
            assert len(opened) == 1 and opened[0].closed  # its answer would have met the next request
            assert (await client.get(CONFIGMAPS))["kind"] == "ConfigMapList"
            assert len(opened) == 2 and not opened[1].closed
            await client.close()
        c.run(main())
