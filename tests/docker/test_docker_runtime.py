"""The Docker runtime against a real daemon, without a kubelet: sandboxes, limits, OOM, streams, network."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

import docker
import pytest

from labkit import images
from labkit.network import cni
from labkit.kubelet.runtime import (
    LABEL_CLUSTER, LABEL_CONTAINER_NAME, LABEL_NODE, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID,
    ContainerConfig, CRIError, ExecSession, ImagePullError, PodSandboxConfig, PortMapping,
)
from labkit.kubelet.runtime.docker import LABEL_PID, DockerNetwork, DockerRuntime, cleanup_leftovers, docker_client
from testkit import need

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def api() -> docker.APIClient:
    try:
        client = docker_client()
        client.ping()
    except docker.errors.DockerException:
        client = None
    need(client is not None, "a Docker daemon")
    return client


@pytest.fixture(scope="module", params=["cni", "docker"])
def network(api: docker.APIClient, request: pytest.FixtureRequest) -> Iterator[DockerNetwork]:
    """The cluster bridge, with sandboxes wired by labkit (as root) and, again, attached by Docker."""
    net = DockerNetwork(f"test-{secrets.token_hex(3)}", api=api, wire_pods=request.param == "cni")
    try:
        net.ensure_sync()
    except CRIError as e:
        net.remove_sync()
        need(False, f"root and a local Docker daemon, to wire pods ({e.message})")
    assert net.pod_wiring == request.param
    assert (net.interface if request.param == "cni" else "turned off") in net.describe()
    yield net
    net.remove_sync()


@pytest.fixture(scope="module")
def node_a(network: DockerNetwork) -> Iterator[DockerRuntime]:
    runtime = DockerRuntime(network.cluster_id, "node-a", network=network, dns_servers=["10.96.0.10"])
    yield runtime
    asyncio.run(runtime.close())


@pytest.fixture(scope="module")
def node_b(network: DockerNetwork) -> DockerRuntime:
    return DockerRuntime(network.cluster_id, "node-b", network=network)


_next_host = iter(range(10, 250))


def sandbox(network: DockerNetwork, node: str, name: str, ports: tuple[PortMapping, ...] = ()) -> PodSandboxConfig:
    """A pod on ``node`` with the next free address of that node's /24 (the kubelet's choice in labkit)."""
    nodes = list(ipaddress.ip_network(network.cluster_cidr).subnets(new_prefix=24))
    ip = nodes[0 if node == "node-a" else 1][next(_next_host)]
    return PodSandboxConfig(name=name, namespace="default", uid=secrets.token_hex(8), node=node, ip=str(ip),
                            hostname=name, hosts={"kubernetes": "10.96.0.1"}, dns_search=("default.svc.cluster.local",),
                            dns_options=("ndots:5",), ports=ports)


async def start_pod(runtime: DockerRuntime, config: PodSandboxConfig, container: ContainerConfig) -> tuple[str, str]:
    sandbox_id = await runtime.run_pod_sandbox(config)
    await runtime.pull_image(container.image)
    container_id = await runtime.create_container(sandbox_id, container, config)
    await runtime.start_container(container_id)
    return sandbox_id, container_id


async def collect(session: ExecSession) -> tuple[bytes, bytes]:
    out = {1: b"", 2: b""}
    async for stream, data in session.output():
        out[stream] += data
    return out[1], out[2]


async def exec_output(runtime: DockerRuntime, container_id: str, command: list[str]) -> tuple[bytes, bytes]:
    return await collect(await runtime.exec(container_id, command, tty=False, stdin=False))


async def get_page(connect: Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]], *,
                   retry_on: type[Exception], timeout: float = 10) -> bytes:
    """``GET /`` over a new connection each time until the server (perhaps still starting) answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            reader, writer = await connect()
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            page = await reader.read()
            writer.close()
            if page:
                return page
        except retry_on:
            pass
        assert time.monotonic() < deadline, "no answer"
        await asyncio.sleep(0.1)


async def wait_exited(runtime: DockerRuntime, container_id: str, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while (status := await runtime.container_status(container_id)).state != "exited":
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.1)
    return status


def test_pod_has_limits_labels_and_its_ip(api, network, node_a):
    config = sandbox(network, "node-a", "limited")
    container = ContainerConfig(name="main", image="busybox", command=["sleep", "inf"], memory_limit_bytes=64 << 20,
                                cpu_limit_millis=500, cpu_request_millis=250, labels={"app": "limited"})
    sandbox_id, container_id = asyncio.run(start_pod(node_a, config, container))

    host = api.inspect_container(container_id)["HostConfig"]
    assert (host["Memory"], host["MemorySwap"]) == (64 << 20, 64 << 20)
    assert (host["CpuQuota"], host["CpuPeriod"], host["CpuShares"]) == (50_000, 100_000, 256)
    assert host["NetworkMode"] == f"container:{sandbox_id}"
    labels = api.inspect_container(container_id)["Config"]["Labels"]
    assert labels[LABEL_CLUSTER] == network.cluster_id and labels[LABEL_NODE] == "node-a"
    assert (labels[LABEL_POD_NAME], labels[LABEL_POD_NAMESPACE], labels[LABEL_POD_UID]) == ("limited", "default", config.uid)
    assert labels[LABEL_CONTAINER_NAME] == "main"
    assert api.inspect_container(sandbox_id)["Config"]["Labels"][LABEL_CLUSTER] == network.cluster_id

    status = asyncio.run(node_a.container_status(container_id))
    assert (status.state, status.name, status.sandbox_id, status.image) == ("running", "main", sandbox_id, "busybox")
    assert status.started_at > 0 and status.labels == {"app": "limited"}
    [pod] = [s for s in asyncio.run(node_a.list_pod_sandboxes()) if s.id == sandbox_id]
    assert (pod.ip, pod.state, pod.uid) == (config.ip, "ready", config.uid)
    assert [c.id for c in asyncio.run(node_a.list_containers(sandbox_id))] == [container_id]
    # the sandbox's hostname and /etc/hosts entries are the pod's
    out, _ = asyncio.run(exec_output(node_a, container_id, ["sh", "-c", "hostname; grep kubernetes /etc/hosts"]))
    assert out.split() == [b"limited", b"10.96.0.1", b"kubernetes"]
    # eth0 holds the pod's IP, its name resolves to it, and resolv.conf is the kubelet's
    out, _ = asyncio.run(exec_output(node_a, container_id, [
        "sh", "-c", "ip -o -4 addr show eth0; grep -w limited /etc/hosts; grep -v '^#' /etc/resolv.conf"]))
    eth0, hosts, *resolv = out.decode().splitlines()
    assert f"inet {config.ip}/{network.subnet.split('/')[1]}" in eth0 and hosts.split() == [config.ip, "limited"]
    wired = network.pod_wiring == "cni"  # else docker's embedded DNS forwards to the cluster DNS
    assert sorted(resolv) == ["nameserver " + ("10.96.0.10" if wired else "127.0.0.11"), "options ndots:5",
                              "search default.svc.cluster.local"]
    assert api.inspect_container(sandbox_id)["HostConfig"]["NetworkMode"] == ("host" if wired else network.name)
    # the pod has a network namespace of its own, which its container shares
    namespaces = {os.stat(f"/proc/{api.inspect_container(c)['State']['Pid']}/ns/net").st_ino
                  for c in (sandbox_id, container_id)}
    assert len(namespaces) == 1 and os.stat("/proc/self/ns/net").st_ino not in namespaces


def test_oom_killed_is_reported(network, node_a):
    container = ContainerConfig(name="hog", image="busybox", command=["tail", "/dev/zero"], memory_limit_bytes=16 << 20)

    async def run():
        _, container_id = await start_pod(node_a, sandbox(network, "node-a", "hog"), container)
        return await wait_exited(node_a, container_id)

    status = asyncio.run(run())
    assert (status.reason, status.exit_code) == ("OOMKilled", 137)
    assert status.finished_at >= status.started_at > 0


def test_logs_tail_follow_timestamps_and_limit(network, node_a):
    script = "for i in 1 2 3 4 5; do echo line $i; done; until [ -e /tmp/go ]; do sleep 0.05; done; echo late; sleep inf"
    container = ContainerConfig(name="talker", image="busybox", command=["sh", "-c", script])

    async def run():
        _, cid = await start_pod(node_a, sandbox(network, "node-a", "talker"), container)
        while b"line 5" not in b"".join([c async for c in node_a.logs(cid)]):
            await asyncio.sleep(0.05)
        tail = b"".join([c async for c in node_a.logs(cid, tail_lines=2)])
        stamped = b"".join([c async for c in node_a.logs(cid, tail_lines=1, timestamps=True)])
        limited = b"".join([c async for c in node_a.logs(cid, limit_bytes=10)])
        follow = node_a.logs(cid, follow=True, tail_lines=1)
        followed = await anext(follow)  # the last line, then whatever comes
        await (await node_a.exec(cid, ["touch", "/tmp/go"], tty=False, stdin=False)).wait()
        async for chunk in follow:
            followed += chunk
            if b"late" in followed:
                break
        await follow.aclose()
        return tail, stamped, limited, followed

    tail, stamped, limited, followed = asyncio.run(asyncio.wait_for(run(), 20))
    assert tail == b"line 4\nline 5\n"
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line 5\n", stamped)
    assert limited == b"line 1\nlin"
    assert followed == b"line 5\nlate\n"


def test_exec_stdin_exit_code_and_tty_resize(network, node_a):
    container = ContainerConfig(name="shell", image="busybox", command=["sleep", "inf"])

    async def run():
        _, cid = await start_pod(node_a, sandbox(network, "node-a", "shell"), container)
        piped = await node_a.exec(cid, ["sh", "-c", "cat; echo oops >&2; exit 3"], tty=False, stdin=True)
        await piped.write_stdin(b"hello through stdin\n")
        await piped.close_stdin()
        piped_out = await collect(piped)
        tty = await node_a.exec(cid, ["sh"], tty=True, stdin=True)
        await tty.resize(100, 30)
        await tty.write_stdin(b"stty size; exit 4\n")
        tty_out, _ = await collect(tty)
        return piped_out, await piped.wait(), tty_out, await tty.wait()

    (out, err), code, tty_out, tty_code = asyncio.run(asyncio.wait_for(run(), 20))
    assert (out, err, code) == (b"hello through stdin\n", b"oops\n", 3)
    assert b"30 100" in tty_out and tty_code == 4


def test_attach_to_a_stdin_container(network, node_a):
    container = ContainerConfig(name="reader", image="busybox", command=["sh", "-c", "read x; echo got $x; exit 5"],
                                stdin=True, stdin_once=True)

    async def run():
        _, cid = await start_pod(node_a, sandbox(network, "node-a", "reader"), container)
        session = await node_a.attach(cid, tty=False, stdin=True)
        await session.write_stdin(b"word\n")
        out, _ = await collect(session)
        return out, await session.wait()

    assert asyncio.run(asyncio.wait_for(run(), 20)) == (b"got word\n", 5)


def test_nginx_stand_in_port_forward_and_pull_errors(api, network, node_a):
    async def run():
        ref = await node_a.pull_image("nginx:1.25")
        config = sandbox(network, "node-a", "web")
        sandbox_id, cid = await start_pod(node_a, config, ContainerConfig(name="nginx", image="nginx:1.25"))
        page = await get_page(lambda: node_a.port_forward(sandbox_id, 80), retry_on=CRIError)
        with pytest.raises(CRIError) as refused:
            await node_a.port_forward(sandbox_id, 81)
        started = time.monotonic()
        await node_a.stop_container(cid, timeout=10)
        return ref, config, page, refused.value, time.monotonic() - started, await node_a.container_status(cid)

    ref, config, page, refused, stop_seconds, stopped = asyncio.run(run())
    assert "stand-in" in ref.note and "nginx:1.25" in ref.note and ref.ref.startswith("docker://sha256:")
    assert b"200 OK" in page and b"Welcome to nginx!" in page and b"stand-in" in page
    assert f"Pod: web<br>IP: {config.ip}".encode() in page
    assert refused.reason == "PortForwardError" and "connection refused" in refused.message.lower()
    assert stop_seconds < 3 and (stopped.state, stopped.reason, stopped.exit_code) == ("exited", "Completed", 0)
    # no registry: a real pull fails with docker's own message; an unknown image has no stand-in
    with pytest.raises(docker.errors.APIError) as pull_error:
        api.pull("nginx", tag="1.25")
    with pytest.raises(ImagePullError) as no_stand_in:
        asyncio.run(node_a.pull_image("example.com/nothing:1"))
    assert no_stand_in.value.reason == "ErrImagePull" and "example.com/nothing" in no_stand_in.value.message
    assert pull_error.value.explanation and not asyncio.run(node_a.image_present("nginx:1.25"))
    assert asyncio.run(node_a.image_present(images.NGINX.tag))  # the stand-in this test built


def test_the_python_stand_in_serves_http_with_the_standard_library(network, node_a):
    """``python:3.12`` without a registry: this machine's interpreter and standard library in an image,
    enough for a tutorial's ``python -m http.server`` and for ssl, sqlite3 and json."""
    async def run():
        ref = await node_a.pull_image("python:3.12")
        config = sandbox(network, "node-a", "py")
        sandbox_id, cid = await start_pod(node_a, config, ContainerConfig(
            name="py", image="python:3.12", command=["python", "-m", "http.server", "8000"]))
        page = await get_page(lambda: node_a.port_forward(sandbox_id, 8000), retry_on=CRIError)
        out, err = await exec_output(node_a, cid, ["python3", "-c", "import ssl, sqlite3, json; print('imports')"])
        # as PID 1, python ignores SIGTERM (no handler): the grace period would pass in full
        await node_a.stop_container(cid, timeout=1)
        return ref, page, out, err

    ref, page, out, err = asyncio.run(run())
    assert "stand-in" in ref.note and "this machine's Python" in ref.note
    assert b"200 OK" in page and b"Directory listing" in page
    assert (out, err) == (b"imports\n", b"")


def test_pods_on_two_nodes_reach_each_other_by_ip(network, node_a, node_b):
    async def run():
        server = sandbox(network, "node-a", "hello")
        await start_pod(node_a, server, ContainerConfig(name="hello", image="labkit/hello:1", env={"POD_NAME": "hello"}))
        client = sandbox(network, "node-b", "client")
        _, cid = await start_pod(node_b, client, ContainerConfig(name="c", image="busybox", command=["sleep", "inf"]))
        deadline = time.monotonic() + 10
        while True:
            session = await node_b.exec(cid, ["wget", "-qO-", f"http://{server.ip}:8080/"], tty=False, stdin=False)
            out, err = await collect(session)
            if await session.wait() == 0 or time.monotonic() > deadline:
                return server, out, err
            await asyncio.sleep(0.1)

    server, out, err = asyncio.run(run())
    assert out == f"Hello from hello ({server.ip})\n".encode(), err
    assert {s.name for s in asyncio.run(node_b.list_pod_sandboxes())} == {"client"}


def test_a_host_port_is_published_and_its_pod_shares_the_bridge(network, node_a, node_b):
    """Docker publishes a hostPort, so that sandbox joins the docker network even where others are wired."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host_port = s.getsockname()[1]

    async def run():
        server = sandbox(network, "node-a", "published", ports=(PortMapping(container_port=8080, host_port=host_port),))
        sandbox_id, _ = await start_pod(node_a, server, ContainerConfig(name="hello", image="labkit/hello:1",
                                                                         env={"POD_NAME": "published"}))
        client = sandbox(network, "node-b", "neighbour")
        _, cid = await start_pod(node_b, client, ContainerConfig(name="c", image="busybox", command=["sleep", "inf"]))
        page = await get_page(lambda: asyncio.open_connection("127.0.0.1", host_port), retry_on=OSError)
        session = await node_b.exec(cid, ["wget", "-qO-", f"http://{server.ip}:8080/"], tty=False, stdin=False)
        out, _ = await collect(session)
        return server, sandbox_id, page, out

    server, sandbox_id, page, out = asyncio.run(run())
    assert page.endswith(f"Hello from published ({server.ip})\n".encode())
    assert out == f"Hello from published ({server.ip})\n".encode()
    assert node_a.api.inspect_container(sandbox_id)["HostConfig"]["NetworkMode"] == network.name


def test_cleanup_removes_everything_with_the_cluster_label(api):
    net = DockerNetwork(f"test-{secrets.token_hex(3)}", api=api)
    a, b = (DockerRuntime(net.cluster_id, node, network=net) for node in ("node-a", "node-b"))

    async def run():
        await net.ensure()
        for runtime in (a, b):
            config = sandbox(net, runtime.node, f"pod-{runtime.node}")
            await start_pod(runtime, config, ContainerConfig(name="c", image="busybox", command=["sleep", "inf"]))
        await a.cleanup()
        left = [s.name for runtime in (a, b) for s in await runtime.list_pod_sandboxes()]
        await net.remove()
        return set(left)

    assert asyncio.run(run()) == {"pod-node-b"}
    label = {"label": f"{LABEL_CLUSTER}={net.cluster_id}"}
    assert api.containers(all=True, filters=label) == [] and api.networks(filters=label) == []


_CRASHING_CLUSTER = """
import asyncio, os, sys
from labkit.kubelet.runtime import ContainerConfig, PodSandboxConfig
from labkit.kubelet.runtime.docker import DockerNetwork, DockerRuntime
async def main():
    net = DockerNetwork(sys.argv[1])
    await net.ensure()
    runtime = DockerRuntime(sys.argv[1], "node-x", network=net)
    await runtime.run_pod_sandbox(PodSandboxConfig(name="orphan", namespace="default", uid="u", node="node-x",
                                                   ip="", hostname="orphan"))
    os._exit(0)  # crash: no cleanup
asyncio.run(main())
"""


def test_leftovers_of_a_dead_process_are_removed(api, network, node_a):
    cluster_id = f"test-{secrets.token_hex(3)}"
    subprocess.run([sys.executable, "-c", _CRASHING_CLUSTER, cluster_id], check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": os.getcwd()})
    label = {"label": f"{LABEL_CLUSTER}={cluster_id}"}
    [orphan] = api.containers(all=True, filters=label)
    assert orphan["Labels"][LABEL_PID] != str(os.getpid()) and len(api.networks(filters=label)) == 1
    asyncio.run(node_a.run_pod_sandbox(sandbox(network, "node-a", "alive")))

    assert cleanup_leftovers(api) >= 2
    assert api.containers(all=True, filters=label) == [] and api.networks(filters=label) == []
    # a live cluster keeps its pods and network
    assert "alive" in {s.name for s in asyncio.run(node_a.list_pod_sandboxes())}
    assert api.networks(filters={"label": f"{LABEL_CLUSTER}={network.cluster_id}"})


def test_a_leftover_network_in_use_by_a_foreign_container_does_not_stop_the_cleanup(api):
    """A dead cluster's network that something else still uses is left, with a warning; nothing fails."""
    name = f"labkit-test-{secrets.token_hex(3)}"
    dead_owner = {LABEL_CLUSTER: name, LABEL_PID: "999999999", "labkit.pid-start": "1", "labkit.host": socket.gethostname()}
    net = api.create_network(name, driver="bridge", labels=dead_owner)["Id"]
    foreign = api.create_container(images.BUSYBOX.tag, ["sleep", "inf"], host_config=api.create_host_config(network_mode=name))
    try:
        api.start(foreign)
        cleanup_leftovers(api)
        assert [n["Id"] for n in api.networks(names=[name])] == [net]
    finally:
        api.remove_container(foreign, force=True)
        api.remove_network(net)


def test_a_pulled_image_reports_its_size(api, node_a):
    """The kubelet's Pulled event ends "Image size: N bytes." with what the image store says."""
    ref = asyncio.run(node_a.pull_image("busybox"))
    assert ref.size == api.inspect_image(ref.ref.removeprefix("docker://"))["Size"] > 0


def test_wiring_never_touches_a_process_in_the_hosts_namespace(api, monkeypatch):
    """The CNI step refuses a container that has not left this machine's network namespace."""
    monkeypatch.setattr(cni, "NAMESPACE_WAIT_SECONDS", 0.3)
    cid = api.create_container(images.BUSYBOX.tag, ["sleep", "inf"], labels={LABEL_CLUSTER: "test-host-ns"},
                               host_config=api.create_host_config(network_mode="host"))["Id"]
    try:
        api.start(cid)
        pid = api.inspect_container(cid)["State"]["Pid"]
        links = set(os.listdir("/sys/class/net"))
        with pytest.raises(cni.CNIError) as refused:
            cni.add(pid, owner=cid, ip="10.254.0.2", prefixlen=16, gateway="10.254.255.254", bridge="docker0")
        with pytest.raises(cni.CNIError, match="is not in container"):
            cni.add(os.getpid(), owner=cid, ip="10.254.0.2", prefixlen=16, gateway="10.254.255.254", bridge="docker0")
    finally:
        api.remove_container(cid, force=True)
    # without root, another user's namespace cannot even be looked at
    assert ("is still in the host's network namespace" if os.geteuid() == 0 else "not visible") in str(refused.value)
    assert set(os.listdir("/sys/class/net")) == links


def test_a_dead_clusters_bridge_on_this_slots_subnet_is_reclaimed(api):
    """A clean-up at start can lose a race to another cluster's (16 starting at once in a room): the bridge
    a dead cluster left on this cluster's subnet, a container still on it, is removed with that container
    and the subnet taken, where the start failed with "no free subnet"."""
    subnet = "10.159.192.0/18"  # address slot 127's bridge: no test holds it
    dead = f"test-{secrets.token_hex(3)}"
    dead_owner = {LABEL_CLUSTER: dead, LABEL_PID: "999999999", "labkit.pid-start": "1",
                  "labkit.host": socket.gethostname(), "labkit.uid": str(os.getuid())}
    pool = docker.types.IPAMPool(subnet=subnet)
    api.create_network(f"labkit-{dead}", driver="bridge", labels=dead_owner,
                       ipam=docker.types.IPAMConfig(pool_configs=[pool]))
    left = api.create_container(images.BUSYBOX.tag, ["sleep", "inf"], labels=dead_owner,
                                host_config=api.create_host_config(network_mode=f"labkit-{dead}"))
    api.start(left)
    fresh = DockerNetwork(f"test-{secrets.token_hex(3)}", api=api, candidates=(subnet,), wire_pods=False,
                          use_agent=False)
    try:
        fresh.ensure_sync()
        assert fresh.subnet == subnet
        label = {"label": f"{LABEL_CLUSTER}={dead}"}
        assert api.networks(filters=label) == [] and api.containers(all=True, filters=label) == []
    finally:
        fresh.remove_sync()
