"""labkit.network.loadbalancer: haproxy and its built-in stand-in, in front of fake API servers.

Each fake is an HTTPS server with the cluster PKI's serving certificate: ``/readyz`` answers 200 or
500 as the test says, every other path the fake's name. Every test runs against both kinds; the
haproxy ones skip without haproxy (and fail in CI). Health checks run every 0.2 s here (haproxy's
default is 2 s), so a change shows within a second; deadlines are generous."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from testkit import need

from labkit.apiserver.pki import PKI
from labkit.network import loadbalancer
from labkit.network.loadbalancer import FALL, Backend, BackendStatus, LoadBalancer, find_haproxy, load_balancer

pytestmark = pytest.mark.unprivileged
INTERVAL = 0.2
DEADLINE = 10.0
CHECKOUT = str(Path(__file__).parents[2])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(params=["haproxy", "built-in"])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "haproxy":
        need(find_haproxy() is not None, "haproxy (apt-get install haproxy)")
    return str(request.param)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """Deeper than a unix socket's path may be (haproxy allows 97 bytes), as under a long TMPDIR."""
    deep = tmp_path / ("a-long-temporary-directory-" * 3) / "lb"
    assert len(str(deep / "haproxy.sock")) > 108
    return deep


class FakeAPIServer:
    """An HTTPS server counting the requests it answers (``/readyz`` aside)."""

    def __init__(self, name: str, pki: PKI) -> None:
        self.name, self.pki = name, pki
        self.ready = 200
        self.requests = 0
        self.port = 0
        self.runner: web.AppRunner | None = None

    async def start(self) -> FakeAPIServer:
        async def readyz(request: web.Request) -> web.Response:
            return web.Response(status=self.ready, text="ok" if self.ready == 200 else "not ready")

        async def other(request: web.Request) -> web.Response:
            self.requests += 1
            return web.Response(text=self.name)

        app = web.Application()
        app.router.add_get("/readyz", readyz)
        app.router.add_get("/{path:.*}", other)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.pki.server_ssl_context())
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def backend(self) -> Backend:
        return Backend(self.name, "127.0.0.1", self.port)


class Setup:
    """Fake API servers, a load balancer in front of them and a client that opens a new connection
    per request (so each request is balanced)."""

    def __init__(self, lb: LoadBalancer, fakes: list[FakeAPIServer], client: aiohttp.ClientSession,
                 context: ssl.SSLContext) -> None:
        self.lb, self.fakes, self.client, self.context = lb, fakes, client, context

    async def get(self, path: str = "/who") -> str:
        async with self.client.get(self.lb.url + path) as response:
            assert response.status == 200
            return await response.text()

    async def statuses(self) -> dict[str, BackendStatus]:
        return {s.name: s for s in await self.lb.status()}

    async def until(self, what: str, condition: Callable[[dict[str, BackendStatus]], bool],
                    timeout: float = DEADLINE) -> dict[str, BackendStatus]:
        deadline = time.monotonic() + timeout
        while True:
            statuses = await self.statuses()
            if condition(statuses):
                return statuses
            if time.monotonic() > deadline:
                raise AssertionError(f"not met in {timeout}s: {what}; status: {statuses}")
            await asyncio.sleep(0.05)

    async def all_checked_up(self) -> dict[str, BackendStatus]:
        return await self.until("every backend UP after a passing check", lambda statuses: all(
            s.state == "UP" and s.check == "L7OK/200" for s in statuses.values()))


def run(pki: PKI, kind: str, workdir: Path, body: Callable[[Setup], Awaitable[Any]], *, backends: int = 3,
        interval: float = INTERVAL) -> None:
    """Start ``backends`` fakes and a load balancer of ``kind`` before them, run ``body``, stop all."""
    async def main() -> None:
        fakes = [await FakeAPIServer(f"apiserver-{i}", pki).start() for i in range(backends)]
        lb = load_balancer([f.backend for f in fakes], workdir=workdir, kind=kind, check_interval=interval)
        assert lb.kind == kind
        context = ssl.create_default_context(cafile=str(pki.directory / "ca.crt"))
        await lb.start()
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, force_close=True)) as client:
                await body(Setup(lb, fakes, client, context))
        finally:
            await lb.stop()
            for fake in fakes:
                await fake.stop()
    asyncio.run(main())


def test_roundrobin_spreads_requests_over_every_up_backend(pki: PKI, kind: str, workdir: Path) -> None:
    async def body(s: Setup) -> None:
        await s.all_checked_up()
        answers = [await s.get() for _ in range(9)]
        assert sorted(answers) == sorted(f.name for f in s.fakes for _ in range(3))
        assert [f.requests for f in s.fakes] == [3, 3, 3]
        statuses = await s.until("the connections closed", lambda st: all(x.current == 0 for x in st.values()))
        assert [statuses[f.name].total for f in s.fakes] == [3, 3, 3]
        assert [statuses[f.name].address for f in s.fakes] == [f"127.0.0.1:{f.port}" for f in s.fakes]
    run(pki, kind, workdir, body)


def test_a_backend_failing_readyz_goes_down_gets_nothing_and_comes_back(pki: PKI, kind: str, workdir: Path) -> None:
    async def body(s: Setup) -> None:
        a, b, c = s.fakes
        await s.all_checked_up()
        b.ready = 500
        await s.until("b DOWN after failing /readyz", lambda st: st[b.name].state == "DOWN"
                      and st[b.name].check == "L7STS/500")
        answers = [await s.get() for _ in range(6)]
        assert sorted(answers) == sorted([a.name] * 3 + [c.name] * 3)
        assert b.requests == 0
        b.ready = 200
        statuses = await s.until("b UP after rise checks", lambda st: st[b.name].state == "UP")
        assert statuses[b.name].check == "L7OK/200"
        assert b.name in {await s.get() for _ in range(3)}
    run(pki, kind, workdir, body)


def test_killed_backends_are_passed_over_at_once_and_reported_down(pki: PKI, kind: str, workdir: Path) -> None:
    """Two of three killed: requests right after all succeed, a refused connection being retried on
    the next server (up to 3 times); the checks (every 1 s here) take them DOWN after fall x inter = 3 s."""
    interval = 1.0

    async def body(s: Setup) -> None:
        a, b, c = s.fakes
        await s.all_checked_up()
        before = (await s.statuses())[b.name].since
        await b.stop()
        await c.stop()
        killed = time.monotonic()
        assert [await s.get() for _ in range(6)] == [a.name] * 6
        assert time.monotonic() - killed < FALL * interval, "the requests waited for the health checks"
        statuses = await s.until("b and c DOWN", lambda st: st[b.name].state == st[c.name].state == "DOWN",
                                 timeout=FALL * interval + 5)
        assert statuses[b.name].check == statuses[c.name].check == "L4CON", statuses
        assert statuses[b.name].since > before
        assert statuses[a.name].state == "UP"
    run(pki, kind, workdir, body, interval=interval)


def test_status_counts_current_connections(pki: PKI, kind: str, workdir: Path) -> None:
    async def body(s: Setup) -> None:
        await s.all_checked_up()
        _, writer = await asyncio.open_connection(s.lb.host, s.lb.port, ssl=s.context)
        statuses = await s.until("one current connection", lambda st: sum(x.current for x in st.values()) == 1)
        assert sum(x.total for x in statuses.values()) == 1
        writer.close()
        await s.until("no current connection", lambda st: sum(x.current for x in st.values()) == 0)
    run(pki, kind, workdir, body)


def test_stop_ends_connections_and_leaves_no_process_and_no_files(pki: PKI, kind: str, workdir: Path) -> None:
    async def main() -> None:
        fake = await FakeAPIServer("apiserver-0", pki).start()
        lb = load_balancer([fake.backend], workdir=workdir, kind=kind, check_interval=INTERVAL)
        await lb.start()
        assert f"at 127.0.0.1:{lb.port}, health checks GET /readyz over TLS every 0.2s" in lb.describe()
        pid = lb.process.pid if isinstance(lb, loadbalancer.HAProxyLoadBalancer) else None
        if pid is not None:
            assert (workdir / "haproxy.sock").exists()
            assert lb.describe().startswith(f"haproxy {lb.version} (")
        context = ssl.create_default_context(cafile=str(pki.directory / "ca.crt"))
        reader, writer = await asyncio.open_connection(lb.host, lb.port, ssl=context)
        await lb.stop()
        try:
            assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
        except ConnectionError:
            pass  # closed by a reset: as good
        writer.close()
        await fake.stop()
        with pytest.raises(OSError):
            await asyncio.open_connection(lb.host, lb.port)
        assert not workdir.exists()
        if pid is not None:
            assert not Path(f"/proc/{pid}").exists()
        else:
            assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("lb-check-")]
    asyncio.run(main())


def test_cleanup_leftovers_stops_an_orphaned_haproxy(workdir: Path) -> None:
    """A cluster process that exits without stopping its haproxy leaves it running, its owner gone."""
    need(find_haproxy() is not None, "haproxy (apt-get install haproxy)")
    code = ("import asyncio, sys; sys.path[:0] = [sys.argv[1]]\n"
            "from pathlib import Path\n"
            "from labkit.network.loadbalancer import Backend, load_balancer\n"
            "lb = load_balancer([Backend('a', '127.0.0.1', 1)], workdir=Path(sys.argv[2]), kind='haproxy')\n"
            "asyncio.run(lb.start())\n"
            "print(lb.process.pid, flush=True)\n")
    out = subprocess.run([sys.executable, "-c", code, CHECKOUT, str(workdir)], capture_output=True, text=True,
                         timeout=30, check=True)
    pid = int(out.stdout)
    assert Path(f"/proc/{pid}").exists() and (workdir / "haproxy.sock").exists()
    assert loadbalancer.cleanup_leftovers() >= 1
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert not workdir.exists()


@pytest.fixture
def no_kind_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv(loadbalancer.KIND_ENV, raising=False)
    yield monkeypatch


def test_the_kind_is_asked_or_found(no_kind_env: pytest.MonkeyPatch, workdir: Path) -> None:
    backends = [Backend("a", "127.0.0.1", 6443)]
    found = load_balancer(backends, workdir=workdir)
    assert found.kind == ("haproxy" if find_haproxy() else "built-in")
    no_kind_env.setenv(loadbalancer.KIND_ENV, "built-in")
    assert load_balancer(backends, workdir=workdir).kind == "built-in"
    assert load_balancer(backends, workdir=workdir, kind="built-in").describe().startswith("built-in (asyncio")
    with pytest.raises(ValueError, match="one of haproxy, built-in"):
        load_balancer(backends, workdir=workdir, kind="nginx")
    with pytest.raises(ValueError, match="given twice"):
        load_balancer(backends * 2, workdir=workdir, kind="built-in")
    with pytest.raises(ValueError, match="server names"):
        Backend("a b", "127.0.0.1", 6443)
    no_kind_env.setattr(loadbalancer, "find_haproxy", lambda: None)
    no_kind_env.delenv(loadbalancer.KIND_ENV)
    assert load_balancer(backends, workdir=workdir).kind == "built-in"
    with pytest.raises(loadbalancer.LoadBalancerError, match="apt-get install haproxy"):
        load_balancer(backends, workdir=workdir, kind="haproxy")
