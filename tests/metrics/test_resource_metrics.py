"""The kubelet's /metrics/resource, read with the Prometheus client's own parser, from the sim model
on a fake clock: names, labels, units, timestamps, and a node counter that never goes back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from labkit.apimachinery.resource import parse_quantity
from labkit.kubelet.resourcemetrics import NODE_BASELINE_CPU, NODE_BASELINE_MEMORY, ResourceMetrics, go_float
from labkit.kubelet.runtime import ContainerConfig, CRIError, PodSandboxConfig
from labkit.kubelet.runtime.sim import ANNOTATION_CPU, ANNOTATION_MEMORY, IDLE_CPU, SimRuntime
from labkit.kubelet.runtime.simload import SimLoads

MI = 1024 * 1024
T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


async def start_pod(runtime: SimRuntime, name: str, containers: tuple[str, ...], labels: dict[str, str] | None = None,
                    **annotations: str) -> str:
    sandbox = PodSandboxConfig(name=name, namespace="shop", uid=f"uid-{name}", node="node-1", ip="10.0.0.2",
                               hostname=name, labels=labels or {}, annotations=annotations)
    sid = await runtime.run_pod_sandbox(sandbox)
    for c in containers:
        cid = await runtime.create_container(sid, ContainerConfig(name=c, image="nginx"), sandbox)
        await runtime.start_container(cid)
    await asyncio.sleep(0)  # start_delay 0: the runtime's timers fire on the next turn of the loop
    return sid


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, float | None]]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = (s.value, s.timestamp)
    return out


def test_exposition_as_a_kubelet_writes_it(loop: asyncio.AbstractEventLoop) -> None:
    clock = Clock()
    runtime = SimRuntime(node="node-1", start_delay=0, clock=clock)
    metrics = ResourceMetrics(runtime, clock=clock)
    started = clock.now
    loop.run_until_complete(start_pod(runtime, "web", ("nginx", "sidecar"),
                                      **{ANNOTATION_CPU: "250m", ANNOTATION_MEMORY: "64Mi"}))
    clock.now += 10
    text = loop.run_until_complete(metrics.collect())

    helps = [line for line in text.splitlines() if line.startswith("# HELP")]
    assert "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container " \
           "in core-seconds" in helps
    assert "# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes" in helps
    assert "# TYPE node_cpu_usage_seconds_total counter" in text.splitlines()
    families = [f.name for f in text_string_to_metric_families(text)]
    assert families == sorted(families)  # as a registry gathers them
    web = (("container", "nginx"), ("namespace", "shop"), ("pod", "web"))
    got = samples(text)
    at = clock.now  # prometheus_client gives the millisecond timestamp back in seconds
    assert got[("container_cpu_usage_seconds_total", web)] == (pytest.approx(2.5), at)
    assert got[("container_memory_working_set_bytes", web)] == (64 * MI, at)
    assert got[("container_start_time_seconds", web)] == (started, None)
    assert got[("pod_cpu_usage_seconds_total", web[1:])] == (pytest.approx(5.0), at)
    assert got[("pod_memory_working_set_bytes", web[1:])] == (128 * MI, at)
    assert got[("node_cpu_usage_seconds_total", ())] == (pytest.approx(float(NODE_BASELINE_CPU) * 10 + 5.0), at)
    assert got[("node_memory_working_set_bytes", ())] == (NODE_BASELINE_MEMORY + 128 * MI, at)
    assert got[("resource_scrape_error", ())] == (0, None)
    assert "container_memory_working_set_bytes{container=\"nginx\",namespace=\"shop\",pod=\"web\"} 6.7108864e+07 " \
           f"{round(at * 1000)}" in text


def test_node_cpu_keeps_what_deleted_containers_used(loop: asyncio.AbstractEventLoop) -> None:
    clock = Clock()
    runtime = SimRuntime(start_delay=0, clock=clock)
    metrics = ResourceMetrics(runtime, clock=clock)
    sid = loop.run_until_complete(start_pod(runtime, "job", ("work",), **{ANNOTATION_CPU: "2"}))
    clock.now += 5
    before = samples(loop.run_until_complete(metrics.collect()))[("node_cpu_usage_seconds_total", ())][0]
    loop.run_until_complete(runtime.remove_pod_sandbox(sid))
    clock.now += 5
    after = samples(loop.run_until_complete(metrics.collect()))
    assert after[("node_cpu_usage_seconds_total", ())][0] == pytest.approx(before + float(NODE_BASELINE_CPU) * 5)
    assert not [k for k in after if k[0].startswith("container_")]


def test_set_usage_changes_the_rate_from_then_on(loop: asyncio.AbstractEventLoop) -> None:
    clock = Clock()
    runtime = SimRuntime(start_delay=0, clock=clock)
    loop.run_until_complete(start_pod(runtime, "api", ("app",)))
    clock.now += 10  # idle: 1m
    assert runtime.set_usage("shop", "api", cpu="1", memory="100Mi") == 1
    clock.now += 10
    (stats,) = loop.run_until_complete(runtime.list_container_stats())
    assert (stats.cpu_usage_core_nanoseconds, stats.memory_working_set_bytes) == (10_010_000_000, 100 * MI)
    assert runtime.set_usage("shop", "elsewhere", cpu="1") == 0


def test_a_load_is_shared_by_the_pods_of_its_selector(loop: asyncio.AbstractEventLoop) -> None:
    clock, loads = Clock(), SimLoads()
    nodes = [SimRuntime(node=f"node-{i}", start_delay=0, clock=clock, loads=loads) for i in (1, 2)]
    web = {"app": "web"}
    loop.run_until_complete(start_pod(nodes[0], "web-1", ("app", "proxy"), web))
    loop.run_until_complete(start_pod(nodes[1], "web-2", ("app",), web))
    loop.run_until_complete(start_pod(nodes[1], "db", ("db",), {"app": "db"}))
    assert loads.set("shop-clients", namespace="shop", selector="app=web", cpu="1200m") == 2
    clock.now += 10  # 600m a pod: 300m to each of web-1's containers
    loop.run_until_complete(start_pod(nodes[0], "web-3", ("app",), web))
    clock.now += 10  # 400m a pod

    def cpu_seconds() -> dict[str, float]:
        """Each container's CPU time beyond its own idle rate: its share of the load."""
        stats = [s for n in nodes for s in loop.run_until_complete(n.list_container_stats())]
        names = {sid: config.name for n in nodes for sid, (config, _) in n._sandboxes.items()}
        idle = float(parse_quantity(IDLE_CPU).amount)
        return {f"{names[s.sandbox_id]}/{s.name}": round(s.cpu_usage_core_nanoseconds / 1e9
                                                         - idle * (clock.now - s.started_at), 6) for s in stats}

    assert cpu_seconds() == {"web-1/app": 5.0, "web-1/proxy": 5.0, "web-2/app": 10.0, "web-3/app": 4.0, "db/db": 0.0}
    assert loads.set("shop-clients", namespace="shop", selector="app=web", cpu=None) == 0
    clock.now += 10
    assert cpu_seconds()["web-2/app"] == 10.0  # no load since: the idle rate only


def test_a_usage_annotation_that_is_no_quantity_fails_the_container(loop: asyncio.AbstractEventLoop) -> None:
    runtime = SimRuntime(start_delay=0)
    with pytest.raises(CRIError) as e:
        loop.run_until_complete(start_pod(runtime, "bad", ("app",), **{ANNOTATION_CPU: "lots"}))
    assert e.value.reason == "CreateContainerError" and e.value.message.startswith(ANNOTATION_CPU)
    assert loop.run_until_complete(runtime.list_containers()) == []


@pytest.mark.parametrize("value, text", [(0, "0"), (0.5, "0.5"), (2.5e-05, "2.5e-05"), (123456, "123456"),
                                         (1234567, "1.234567e+06"), (6.7108864e7, "6.7108864e+07"),
                                         (1.796574936085259e9, "1.796574936085259e+09"), (0.0001, "0.0001"),
                                         (100.0, "100"), (999999.0, "999999"), (1e6, "1e+06"), (-2.5e6, "-2.5e+06"),
                                         (268435456, "2.68435456e+08"), (2.0**53, "9.007199254740992e+15"),
                                         (1e16, "1e+16"), (12345.678, "12345.678")])
def test_floats_print_as_go_prints_them(value: float, text: str) -> None:
    assert go_float(value) == text
