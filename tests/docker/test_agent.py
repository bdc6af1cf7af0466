"""labkit.network.agent: what a learner in the docker group, not root, gets from the cluster's network
agent container, and what it refuses. The agent is started here whoever runs the tests (as root too,
with ``use_agent=True``); CI runs them as root and as its docker-group account."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator

import docker
import pytest

from labkit.kubelet.runtime import LABEL_CLUSTER, ContainerConfig
from labkit.kubelet.runtime.docker import DockerNetwork, DockerRuntime, cleanup_leftovers
from labkit.network.agent import AgentClient, AgentError
from testkit import wait_for

from test_docker_runtime import api, collect, exec_output, sandbox, start_pod  # noqa: F401 - a fixture and helpers

pytestmark = [pytest.mark.docker, pytest.mark.unprivileged]
SERVICE_CIDR = "10.117.0.0/16"


@pytest.fixture(scope="module")
def network(api: docker.APIClient) -> Iterator[DockerNetwork]:  # noqa: F811 - the runtime tests' fixture, with the agent
    net = DockerNetwork(f"test-{secrets.token_hex(3)}", api=api, service_cidr=SERVICE_CIDR, use_agent=True)
    net.ensure_sync()
    yield net
    net.remove_sync()


@pytest.fixture(scope="module")
def node(network: DockerNetwork) -> Iterator[DockerRuntime]:
    runtime = DockerRuntime(network.cluster_id, "node-a", network=network)
    yield runtime
    asyncio.run(runtime.close())


def test_pods_are_wired_through_the_agent(network: DockerNetwork, node: DockerRuntime) -> None:
    assert network.agent is not None and network.pod_wiring == "cni"
    assert "network agent" in network.describe()
    config = sandbox(network, "node-a", "wired")

    async def run() -> bytes:
        _, cid = await start_pod(node, config, ContainerConfig(name="c", image="busybox", command=["sleep", "inf"]))
        out, _ = await exec_output(node, cid, ["ip", "-o", "-4", "addr", "show", "eth0"])
        return out

    assert f"inet {config.ip}/{network.subnet.split('/')[1]}".encode() in asyncio.run(run())


def test_a_cluster_ip_on_port_80_served_from_this_process_reaches_a_pod(network: DockerNetwork,
                                                                       node: DockerRuntime) -> None:
    bridge = network.bridge()
    ip = "10.117.0.80"

    async def run() -> tuple[bytes, int]:
        await bridge.add_service_ip(ip)
        try:
            [server] = bridge.listen(ip, 80)  # port 80, without root: bound by the agent, served here
            accepted: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

            async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await reader.readuntil(b"\r\n\r\n")  # the whole request first: no reset under wget's feet
                writer.write(b"HTTP/1.0 200 OK\r\n\r\nfrom the notebook's process\n")
                await writer.drain()
                writer.close()
                accepted.set_result(b"")

            async with await asyncio.start_server(serve, sock=server):
                _, cid = await start_pod(node, sandbox(network, "node-a", "caller"),
                                         ContainerConfig(name="c", image="busybox", command=["sleep", "inf"]))
                session = await node.exec(cid, ["wget", "-qO-", f"http://{ip}/"], tty=False, stdin=False)
                out, _ = await collect(session)
                return out, await session.wait()
        finally:
            await bridge.remove_service_ip(ip)

    assert asyncio.run(run()) == (b"from the notebook's process\n", 0)
    assert ip not in subprocess.run(["ip", "-o", "addr", "show", network.interface], capture_output=True,
                                    text=True).stdout


def test_an_exec_is_killed_through_the_agent(network: DockerNetwork, node: DockerRuntime) -> None:
    async def run() -> int:
        _, cid = await start_pod(node, sandbox(network, "node-a", "sleeper"),
                                 ContainerConfig(name="c", image="busybox", command=["sleep", "inf"]))
        session = await node.exec(cid, ["sleep", "1000"], tty=False, stdin=False)
        await asyncio.sleep(0.3)
        await session.kill()
        return await asyncio.wait_for(session.wait(), 10)

    assert asyncio.run(run()) == 137


def test_the_agent_refuses_what_is_not_its_clusters(network: DockerNetwork) -> None:
    agent = network.agent
    assert agent is not None
    with pytest.raises(AgentError, match="not in this cluster's Service CIDR"):
        agent.add_address("10.118.0.1")
    with pytest.raises(AgentError, match="not in this cluster's Service CIDR"):
        agent.listen("127.0.0.1", 80, socket.SOCK_STREAM)
    with pytest.raises(AgentError, match="is not in container"):
        agent.kill(os.getpid(), owner=network.id)
    with pytest.raises(AgentError, match="not on this cluster's bridge"):
        agent.wire(os.getpid(), owner=network.id, ip="192.0.2.1")


def test_the_agent_answers_only_its_owner(network: DockerNetwork) -> None:
    """Another account on the machine reaches the abstract socket, and gets nothing."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to act as another account")
    address = network.agent.address  # type: ignore[union-attr]
    child = os.fork()
    if child == 0:  # another account's process
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            other = AgentClient(address)
            other.connect(timeout=5)
            try:
                other.add_address("10.117.0.9")
            except OSError as e:  # the agent hung up on it
                code = 0 if "gone" in str(e) or isinstance(e, ConnectionError) else 2
        except BaseException as e:
            print(f"another account: {e!r}", file=sys.stderr, flush=True)
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert "10.117.0.9" not in subprocess.run(["ip", "-o", "addr", "show", network.interface], capture_output=True,
                                              text=True).stdout


_CRASHING = """
import os, sys
from labkit.kubelet.runtime.docker import DockerNetwork
net = DockerNetwork(sys.argv[1], use_agent=True, service_cidr="10.119.0.0/16")
net.ensure_sync()
print(net.agent.address, flush=True)
os._exit(0)  # crash: no cleanup
"""


def test_the_agent_ends_with_its_cluster_process_and_is_cleaned_up(api: docker.APIClient) -> None:  # noqa: F811
    cluster_id = f"test-{secrets.token_hex(3)}"
    subprocess.run([sys.executable, "-c", _CRASHING, cluster_id], check=True, timeout=60, capture_output=True,
                   env={**os.environ, "PYTHONPATH": os.getcwd()})
    label = {"label": f"{LABEL_CLUSTER}={cluster_id}"}
    [agent] = api.containers(all=True, filters=label)

    def exited() -> bool:
        try:
            return api.inspect_container(agent["Id"])["State"]["Status"] == "exited"
        except docker.errors.NotFound:  # another cluster's start cleaned it up first
            return True
    wait_for(exited, timeout=10, what="the agent to exit once its cluster's process was gone")
    cleanup_leftovers(api)
    assert api.containers(all=True, filters=label) == [] and api.networks(filters=label) == []
