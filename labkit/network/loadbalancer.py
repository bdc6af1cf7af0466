"""The control-plane endpoint of an HA cluster: one address in front of every kube-apiserver.

Mirrors the load balancer of kubeadm's HA guide (kubernetes/kubeadm ``docs/ha-considerations.md``,
"keepalived and haproxy"): the address ``kubeadm init --control-plane-endpoint`` names, through which
kubectl, the kubelets and the other components reach whichever API server is up. Two implementations
behind one interface, :class:`LoadBalancer` (:func:`load_balancer` picks one):

- :class:`HAProxyLoadBalancer`: haproxy itself (Debian's ``haproxy``), a child process running the
  guide's ``frontend apiserver`` and ``backend apiserverbackend``, with an admin socket whose
  ``show stat`` gives each server's state;
- :class:`BuiltinLoadBalancer`: a stand-in in pure asyncio for a machine without haproxy, which
  behaves as that configuration does.

Both pass TCP through (TLS ends at the API server, so client certificates reach it) and balance
roundrobin over the servers that are UP. Each server is checked every 2 s with ``GET /readyz`` over
TLS without certificate verification, 200 meaning success. ``/readyz`` rather than the guide's
``/healthz``: kube deprecated ``/healthz`` for ``/livez`` and ``/readyz``, and ``/readyz`` is the one
that says "send me traffic" (it fails while the server cannot reach etcd, has not finished starting,
or is shutting down). haproxy's own defaults are kept (its configuration manual, ``inter``, ``rise``,
``fall``): ``inter 2s``, ``rise 2`` (two passing checks bring a DOWN server UP), ``fall 3`` (three
failing ones take an UP server DOWN), and a new server starts UP "but will fall down at first failure"
(haproxy's ``server.c``): its health counter starts at ``rise``, so its first failed check takes it DOWN.

As the guide, ``option redispatch``: with roundrobin and more than one server UP, haproxy retries a
failed connect at once on the next server, every retry (its ``stream_choose_redispatch()``: "we
don't care about this particular server"), so a connection refused by a dead API server goes to
another before the checks notice (up to fall x inter = 6 s): that is what makes kubectl answer
meanwhile. Unlike the guide, ``retries 3`` rather than 1, so that two dead servers of three are passed
over too (with 1, every other connection fails until the checks catch up).

``timeout connect 1s`` (the guide: 5 s): on loopback a connect is accepted or refused within
microseconds, only a server that stopped accepting (a stopped process, a full backlog) makes it wait,
and 1 s bounds that wait before the retry goes elsewhere. ``timeout client``/``server``/``tunnel 1h``
(the guide: 35 s): a watch may stay silent for minutes (client-go asks for 5-10 min, kube-apiserver
ends a watch without ``timeoutSeconds`` after 30-60 min), and an idle timeout shorter than that would cut it.

Left out: keepalived's virtual IP (one machine: the endpoint is a loopback address), several load
balancers, removing a server, reloads, haproxy's stats page and logs beyond ``option tcplog`` (written
to ``haproxy.log`` in the work directory).

A cluster process that dies leaves its haproxy running; haproxy carries its owner in its environment
(:mod:`labkit.owner`), so :func:`cleanup_leftovers`, run by the next cluster start, stops it and removes
its files.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import csv
import dataclasses
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from labkit import owner

#: ``haproxy`` or ``built-in``: which implementation :func:`load_balancer` uses when not told
KIND_ENV = "LABKIT_LOAD_BALANCER"
#: haproxy's work directory, in its environment, so that a leftover's files can be removed
WORKDIR_ENV = "LABKIT_LB_WORKDIR"
KINDS = ("haproxy", "built-in")

CHECK_INTERVAL = 2.0  # haproxy's default "inter"
RISE = 2  # haproxy's default "rise"
FALL = 3  # haproxy's default "fall"
RETRIES = 3
CONNECT_TIMEOUT = 1.0
IDLE_TIMEOUT = "1h"
READYZ = "/readyz"
BACKEND_SECTION = "apiserverbackend"
STOP_SECONDS = 5.0
#: the admin socket, relative to haproxy's working directory (its work directory): an absolute path
#: may not fit a unix socket's 108 bytes (haproxy allows 97) under a long TMPDIR
SOCKET_NAME = "haproxy.sock"
_NAME = re.compile(r"[A-Za-z0-9_.:-]+")  # what haproxy accepts as a server name


class LoadBalancerError(Exception):
    """No haproxy where one was asked for, or it did not start or answer."""


@dataclasses.dataclass(frozen=True)
class Backend:
    """One API server behind the load balancer: haproxy's ``server NAME HOST:PORT``."""

    name: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"backend name {self.name!r}: letters, digits and _.:- only (haproxy's server names)")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True)
class BackendStatus:
    """One server as haproxy's ``show stat`` reports it: ``state`` UP or DOWN (its ``status``, without
    the "1/3" of a transition; MAINT for a server being added), ``check`` the last check's result as
    haproxy's stats page shows it (``L7OK/200``, ``L7STS/500``, ``L4CON`` refused, ``L4TOUT``; ``INI``
    before the first), ``current``/``total`` its connections now and since start (``scur``/``stot``),
    ``since`` the wall-clock time of its last UP/DOWN change (``lastchg``) or of the start."""

    name: str
    address: str
    state: str
    check: str
    current: int
    total: int
    since: float


class LoadBalancer(abc.ABC):
    """One frontend address balancing TCP connections over API servers, with health checks.

    ``port`` 0 picks a free port at :meth:`start`; read the chosen one from ``port`` or :attr:`url`
    after it. ``check_interval`` is haproxy's ``inter`` (tests shorten it)."""

    kind: ClassVar[str]

    def __init__(self, backends: Sequence[Backend], *, host: str = "127.0.0.1", port: int = 0,
                 check_interval: float = CHECK_INTERVAL) -> None:
        names = [b.name for b in backends]
        if duplicated := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"backend {duplicated[0]!r} is given twice")
        self._backends = list(backends)
        self.host, self.port, self.check_interval = host, port, check_interval

    @property
    def backends(self) -> tuple[Backend, ...]:
        return tuple(self._backends)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def _checks(self) -> str:
        return f"health checks GET {READYZ} over TLS every {self.check_interval:g}s"

    @abc.abstractmethod
    async def start(self) -> None:
        """Listen on the frontend and start the health checks."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop listening, end the connections and checks, remove what :meth:`start` wrote."""

    @abc.abstractmethod
    async def status(self) -> list[BackendStatus]:
        """Each server's state, last check and connection counts, in the order they were added."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line: what balances, where, and how it checks."""


# --- haproxy -------------------------------------------------------------------------------------


def find_haproxy() -> Path | None:
    """``haproxy`` on ``PATH``, else in ``/usr/sbin`` or ``/usr/local/sbin`` (an ordinary account's
    ``PATH`` often lacks the sbin folders Debian installs it in)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    found = shutil.which("haproxy", path=path)
    return Path(found) if found else None


def haproxy_version(binary: Path) -> str:
    """``2.6.12`` from ``HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/``."""
    out = subprocess.run([str(binary), "-v"], capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"version (\d[\w.]*)", out)
    return match.group(1) if match else "unknown version"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class HAProxyLoadBalancer(LoadBalancer):
    """haproxy as a child process (``haproxy -db``: in the foreground, no master process), in a session
    of its own, with its configuration, admin socket and log in ``workdir``."""

    kind = "haproxy"

    def __init__(self, backends: Sequence[Backend], *, workdir: Path, binary: Path, host: str = "127.0.0.1",
                 port: int = 0, check_interval: float = CHECK_INTERVAL) -> None:
        super().__init__(backends, host=host, port=port, check_interval=check_interval)
        self.workdir, self.binary = Path(workdir), binary
        self.version = haproxy_version(binary)
        self.process: subprocess.Popen[bytes] | None = None
        self._dir_fd: int | None = None  # the work directory, held open: this process reaches the socket through it

    @property
    def config_path(self) -> Path:
        return self.workdir / "haproxy.cfg"

    @property
    def socket_path(self) -> Path:
        return self.workdir / SOCKET_NAME

    @property
    def log_path(self) -> Path:
        return self.workdir / "haproxy.log"

    def _server(self, backend: Backend) -> str:
        """A ``server`` line's arguments after the name (the ``add server`` command takes the same)."""
        inter = "" if self.check_interval == CHECK_INTERVAL else f" inter {round(self.check_interval * 1000)}ms"
        return f"{backend.address} check verify none{inter}"

    def config(self) -> str:
        """haproxy.cfg: the kubeadm guide's frontend and backend, with /readyz, retries and timeouts as
        the module docstring says; the first line names the owner, for :func:`cleanup_leftovers`."""
        servers = "".join(f"    server {b.name} {self._server(b)}\n" for b in self._backends)
        return (
            f"# labkit owner {owner.OWNER}\n"
            "global\n"
            "    log stdout format raw local0\n"
            f"    stats socket unix@{SOCKET_NAME} mode 600 level admin\n"  # relative to its cwd
            "\n"
            "defaults\n"
            "    mode tcp\n"
            "    log global\n"
            "    option dontlognull\n"
            "    option redispatch\n"
            f"    retries {RETRIES}\n"
            f"    timeout connect {round(CONNECT_TIMEOUT * 1000)}ms\n"
            f"    timeout client {IDLE_TIMEOUT}\n"
            f"    timeout server {IDLE_TIMEOUT}\n"
            f"    timeout tunnel {IDLE_TIMEOUT}\n"
            "\n"
            "frontend apiserver\n"
            f"    bind {self.host}:{self.port}\n"
            "    mode tcp\n"
            "    option tcplog\n"
            f"    default_backend {BACKEND_SECTION}\n"
            "\n"
            f"backend {BACKEND_SECTION}\n"
            "    option httpchk\n"
            "    http-check connect ssl\n"
            f"    http-check send meth GET uri {READYZ}\n"
            "    http-check expect status 200\n"
            "    mode tcp\n"
            "    balance roundrobin\n"
            f"{servers}"
        )

    async def start(self, timeout: float = 10.0) -> None:
        """Write the configuration, start haproxy and wait until its admin socket answers (a port
        taken meanwhile: another free port, twice)."""
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._dir_fd is None:
            self._dir_fd = os.open(self.workdir, os.O_RDONLY | os.O_DIRECTORY)
        requested = self.port
        deadline = time.monotonic() + timeout
        for attempt in range(3):
            self.port = requested or _free_port(self.host)
            self.config_path.write_text(self.config())
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [str(self.binary), "-db", "-f", str(self.config_path)], stdin=subprocess.DEVNULL, stdout=log,
                    stderr=log, start_new_session=True, cwd=self.workdir,
                    env={**os.environ, owner.OWNER_ENV: owner.OWNER, WORKDIR_ENV: str(self.workdir)})
            if await self._wait_ready(deadline):
                return
            log_text = self.log_path.read_text(errors="replace")
            await self._kill()
            if requested or "cannot bind socket" not in log_text or attempt == 2:
                tail = "\n".join(log_text.splitlines()[-10:])
                raise LoadBalancerError(f"haproxy did not start within {timeout:g}s; {self.log_path} ends:\n{tail}")
        raise AssertionError("unreachable")

    async def _wait_ready(self, deadline: float) -> bool:
        assert self.process is not None
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(LoadBalancerError):
                if ",FRONTEND," in await self._command("show stat"):
                    return True
            await asyncio.sleep(0.02)
        return False

    async def _command(self, command: str) -> str:
        """One command on the admin socket; its whole answer (haproxy closes after it)."""
        try:
            reader, writer = await asyncio.open_unix_connection(f"/proc/self/fd/{self._dir_fd}/{SOCKET_NAME}")
        except OSError as e:
            raise LoadBalancerError(f"haproxy's admin socket {self.socket_path}: {e}") from e
        try:
            writer.write(command.encode() + b"\n")
            return (await reader.read()).decode(errors="replace")
        finally:
            writer.close()

    async def _kill(self) -> None:
        """SIGTERM (haproxy's hard stop: it closes every connection), SIGKILL after
        :data:`STOP_SECONDS`, then reap it."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.to_thread(process.wait)

    async def stop(self) -> None:
        await self._kill()
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        _remove_files(self.workdir)

    async def status(self) -> list[BackendStatus]:
        rows = {row["svname"]: row for row in _parse_stat(await self._command("show stat"))
                if row["# pxname"] == BACKEND_SECTION}
        now = time.time()
        statuses = []
        for backend in self._backends:
            row = rows.get(backend.name)
            if row is None:
                raise LoadBalancerError(f"haproxy does not report server {backend.name!r}")
            check = row["check_status"].removeprefix("* ")
            if row["check_code"]:
                check += f"/{row['check_code']}"
            statuses.append(BackendStatus(
                name=backend.name, address=backend.address, state=row["status"].split(" ")[0], check=check,
                current=int(row["scur"] or 0), total=int(row["stot"] or 0), since=now - int(row["lastchg"] or 0)))
        return statuses

    def describe(self) -> str:
        return f"haproxy {self.version} ({self.binary}) at {self.host}:{self.port}, {self._checks()}"


def _parse_stat(text: str) -> list[dict[str, str]]:
    """``show stat``'s CSV: a header line ``# pxname,svname,...``, one line per proxy and server."""
    return list(csv.DictReader(line for line in text.splitlines() if line.strip()))


def _remove_files(workdir: Path) -> None:
    """Remove what haproxy's start wrote, and the work directory if nothing else is in it."""
    for name in ("haproxy.cfg", SOCKET_NAME, "haproxy.log"):
        (workdir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        workdir.rmdir()


def leftovers() -> list[owner.Leftover]:
    """The haproxy processes that clusters of dead processes left running (only this user's are
    readable); each is stopped and its files removed."""
    return owner.orphan_leftovers("haproxy", WORKDIR_ENV, _remove_owned_files)


def _remove_owned_files(workdir: Path, tag: str) -> None:
    if (workdir / "haproxy.cfg").read_text().startswith(f"# labkit owner {tag}\n"):
        _remove_files(workdir)


def cleanup_leftovers() -> int:
    """Stop the haproxy processes that clusters of dead processes left and remove their files; how many."""
    return owner.remove_all(leftovers())


# --- built-in ------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class _Server:
    """One backend's state, counted as haproxy counts: ``health`` from 0 to rise+fall-1, UP from
    ``rise`` on; it starts at ``rise`` ("up, but will fall down at first failure")."""

    backend: Backend
    since: float
    health: int = RISE
    up: bool = True
    check: str = "INI"
    current: int = 0
    total: int = 0
    task: asyncio.Task[None] | None = None

    def record(self, passed: bool, check: str) -> None:
        """haproxy's check.c: a pass raises ``health`` (reaching ``rise``, to the top: UP); a failure
        lowers it (below ``rise``, to 0: DOWN)."""
        self.check = check
        if passed and self.health < RISE + FALL - 1:
            self.health += 1
            if self.health >= RISE:
                self.health = RISE + FALL - 1
        elif not passed and self.health > 0:
            self.health -= 1
            if self.health < RISE:
                self.health = 0
        if self.up != (self.health >= RISE):
            self.up, self.since = not self.up, time.time()


class BuiltinLoadBalancer(LoadBalancer):
    """A stand-in for haproxy in pure asyncio, on the loop that calls :meth:`start`, behaving as the
    haproxy configuration above does: TCP passthrough, roundrobin over the UP servers, checks of
    ``GET /readyz`` over TLS without verification every ``inter`` with rise 2 / fall 3 and haproxy's
    initial state, a refused or timed-out connect retried at once on the next UP server up to 3 times
    (on the same one after 1 s when it is the only one UP, haproxy's turn-around timer), and haproxy's
    connection counts and check results.

    Left out: weights, queues and maxconn, the idle timeouts (a connection lasts until a side closes
    it), logs, the stats socket, and haproxy's random spread of checks (the first checks are spread
    evenly over one interval)."""

    kind = "built-in"

    def __init__(self, backends: Sequence[Backend], *, host: str = "127.0.0.1", port: int = 0,
                 check_interval: float = CHECK_INTERVAL) -> None:
        super().__init__(backends, host=host, port=port, check_interval=check_interval)
        self._servers = [_Server(b, since=time.time()) for b in self._backends]
        self._next = 0
        self._listener: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._check_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._check_context.check_hostname = False
        self._check_context.verify_mode = ssl.CERT_NONE  # haproxy's "verify none"

    async def start(self) -> None:
        self._listener = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = int(self._listener.sockets[0].getsockname()[1])
        now = time.time()
        for i, server in enumerate(self._servers):
            server.since = now
            self._start_checks(server, delay=self.check_interval * i / len(self._servers))

    def _start_checks(self, server: _Server, delay: float) -> None:
        server.task = asyncio.get_running_loop().create_task(self._check_loop(server, delay),
                                                             name=f"lb-check-{server.backend.name}")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        tasks = [s.task for s in self._servers if s.task is not None] + list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            server.task = None

    async def status(self) -> list[BackendStatus]:
        return [BackendStatus(name=s.backend.name, address=s.backend.address, state="UP" if s.up else "DOWN",
                              check=s.check, current=s.current, total=s.total, since=s.since)
                for s in self._servers]

    def describe(self) -> str:
        return f"built-in (asyncio, a stand-in for haproxy) at {self.host}:{self.port}, {self._checks()}"

    def _pick(self) -> _Server | None:
        """Roundrobin: the next UP server after the last one picked."""
        count = len(self._servers)
        for i in range(count):
            server = self._servers[(self._next + i) % count]
            if server.up:
                self._next = (self._next + i + 1) % count
                return server
        return None

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """One client connection, until either side closes it or :meth:`stop` cancels it."""
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._forward(client_reader, client_writer)
        except asyncio.CancelledError:
            pass  # stop() ends connections so; re-raised, Python 3.11's stream callback would log it as an error
        finally:
            client_writer.close()
            self._connections.discard(task)

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """Connect to the next UP server, retrying up to :data:`RETRIES` times, then pipe both ways."""
        last: _Server | None = None
        for _ in range(1 + RETRIES):
            server = self._pick()
            if server is None:
                return  # no server UP: haproxy closes the connection too
            if server is last:  # haproxy's turn-around timer before retrying the same server
                await asyncio.sleep(min(CONNECT_TIMEOUT, 1.0))
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(server.backend.host, server.backend.port), CONNECT_TIMEOUT)
            except OSError:  # refused, reset, or TimeoutError (an OSError too)
                last = server
                continue
            server.current += 1
            server.total += 1
            try:
                await asyncio.gather(_pipe(client_reader, writer, client_writer), _pipe(reader, client_writer, writer))
            finally:
                server.current -= 1
                writer.close()
            return

    async def _check_loop(self, server: _Server, delay: float) -> None:
        await asyncio.sleep(delay)
        while True:
            server.record(*await self._check(server.backend))
            await asyncio.sleep(self.check_interval)

    async def _check(self, backend: Backend) -> tuple[bool, str]:
        """One check, ``inter`` long at most (haproxy without ``timeout check``): connect, TLS, then
        ``GET /readyz HTTP/1.0`` (haproxy's default version) and the status line."""
        timeout = "L4TOUT"
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.check_interval):
                try:
                    reader, writer = await asyncio.open_connection(backend.host, backend.port)
                except OSError:
                    return False, "L4CON"
                timeout = "L6TOUT"
                try:
                    await writer.start_tls(self._check_context)
                except (ssl.SSLError, OSError):
                    return False, "L6RSP"
                timeout = "L7TOUT"
                writer.write(f"GET {READYZ} HTTP/1.0\r\n\r\n".encode())
                line = await reader.readline()
        except TimeoutError:
            return False, timeout
        except OSError:
            return False, "L7RSP"
        finally:
            if writer is not None:
                writer.close()
        match = re.match(rb"HTTP/\d\.\d (\d{3})", line)
        if match is None:
            return False, "L7RSP"
        code = int(match.group(1))
        return (True, f"L7OK/{code}") if code == 200 else (False, f"L7STS/{code}")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, other: asyncio.StreamWriter) -> None:
    """Copy one direction until EOF, then half-close it (TLS's close_notify and FIN pass through); a
    reset closes the other side too, which ends the other direction."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()
        other.close()


def load_balancer(backends: Sequence[Backend], *, workdir: Path, host: str = "127.0.0.1", port: int = 0,
                  kind: str | None = None, check_interval: float = CHECK_INTERVAL) -> LoadBalancer:
    """The control-plane endpoint: ``kind`` ``haproxy`` or ``built-in``; when None, ``$LABKIT_LOAD_BALANCER``,
    else haproxy if installed, else built-in. ``workdir`` holds haproxy's files (the built-in writes none)."""
    kind = kind or os.environ.get(KIND_ENV) or None
    if kind not in (None, *KINDS):
        raise ValueError(f"load balancer kind {kind!r}: one of {', '.join(KINDS)}")
    binary = find_haproxy() if kind != "built-in" else None
    if kind == "haproxy" and binary is None:
        raise LoadBalancerError("no haproxy: install Debian's haproxy (apt-get install haproxy) or use kind='built-in'")
    if binary is not None:
        return HAProxyLoadBalancer(backends, workdir=workdir, binary=binary, host=host, port=port,
                                   check_interval=check_interval)
    return BuiltinLoadBalancer(backends, host=host, port=port, check_interval=check_interval)
