"""Informers keep a cache in step with the API server through list + watch."""

from __future__ import annotations

import asyncio

from labkit import Cluster
from labkit.client import Client, resource_path
from labkit.informer import Informer


def admin_client(c: Cluster) -> Client:
    assert c.apiserver is not None
    d = c.apiserver.pki.directory
    return Client(c.url, ca_file=d / "ca.crt", cert_file=d / "admin.crt", key_file=d / "admin.key", user_agent="test")


def test_informer_lists_then_follows_the_watch() -> None:
    with Cluster(nodes=0) as c:
        async def main() -> list[tuple[str, str]]:
            client = admin_client(c)
            path = resource_path("v1", "configmaps", namespace="default")
            await client.create(path, {"metadata": {"name": "before"}})
            # (every namespace also holds kube-root-ca.crt, which the root CA publisher may write meanwhile)
            inf = Informer(client, "v1", "configmaps", namespace="default",
                           field_selector="metadata.name!=kube-root-ca.crt")
            seen: list[tuple[str, str]] = []
            inf.add_handlers(on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                             on_update=lambda a, b: seen.append(("update", b["metadata"]["name"])),
                             on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])))
            task = asyncio.create_task(inf.run())
            await asyncio.wait_for(inf.synced.wait(), 5)
            await client.create(path, {"metadata": {"name": "after"}})
            await client.patch(f"{path}/after", {"data": {"a": "1"}})
            await client.delete(f"{path}/before")
            for _ in range(50):
                if len(seen) == 4:
                    break
                await asyncio.sleep(0.05)
            assert set(inf.cache) == {"default/after"}
            task.cancel()
            await client.close()
            return seen

        assert c.run(main()) == [("add", "before"), ("add", "after"), ("update", "after"), ("delete", "before")]


def test_an_indexer_follows_the_cache_through_list_and_watch() -> None:
    """``by_index`` finds objects by a computed value (as controllers find their pods by owner), and
    moves them when they change and drops them when they go."""
    with Cluster(nodes=0) as c:
        async def main() -> list[set[str]]:
            client = admin_client(c)
            path = resource_path("v1", "configmaps", namespace="default")
            await client.create(path, {"metadata": {"name": "a", "labels": {"team": "red"}}})
            inf = Informer(client, "v1", "configmaps", namespace="default")
            inf.add_indexer("team", lambda o: [(o["metadata"].get("labels") or {}).get("team", "none")])
            task = asyncio.create_task(inf.run())
            await asyncio.wait_for(inf.synced.wait(), 5)

            def red() -> set[str]:
                return {o["metadata"]["name"] for o in inf.by_index("team", "red")}
            seen = [red()]
            await client.create(path, {"metadata": {"name": "b", "labels": {"team": "red"}}})
            await client.patch(f"{path}/a", {"metadata": {"labels": {"team": "blue"}}})
            await client.delete(f"{path}/b")
            for _ in range(50):
                if "default/b" not in inf.cache and inf.by_index("team", "blue"):
                    break
                await asyncio.sleep(0.05)
            seen += [red(), {o["metadata"]["name"] for o in inf.by_index("team", "blue")}]
            task.cancel()
            await client.close()
            return seen

        assert c.run(main()) == [{"a"}, set(), {"a"}]
