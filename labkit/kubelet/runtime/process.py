"""The ``process`` runtime: each container is a host process group, each pod a loopback address.

Plays containerd's part (``RunPodSandbox``, ``CreateContainer``, ``StartContainer``, ``StopContainer``,
CRI log files) without containers. Honest about what it is not:

- **No isolation.** Processes run as the current user, share the host's filesystem, PID and user
  namespaces.
- **Limits**: as root, each container gets a cgroup with kube's CPU and memory limits and OOM score
  (:mod:`labkit.kubelet.runtime.proccgroups`), and a process killed at its memory limit ends the
  container ``OOMKilled`` (137). Otherwise they are *not enforced*, and the kubelet says so, and why,
  in a ``LimitsNotEnforced`` event on the pod.
- **Networking**: each pod binds its own loopback address (``127.x.y.z``, from the node's podCIDR when
  the cluster CIDR lies in 127/8), so two pods can both listen on port 8080. ``POD_IP`` and
  ``HOSTNAME`` are set in every container's environment; the teaching images bind ``$POD_IP``.
- **Images** are names for host programs (``pull_image`` only checks the name):

  ``busybox``, ``busybox:*``      the command runs with the host's busybox-static (``/bin/busybox``, or
                                  the environment's: ``busybox_path``; each argv[0] must be a busybox
                                  applet: sh, sleep, echo, httpd, nc, wget ...); default ``sh``
  ``nginx``, ``nginx:*``          a stand-in: ``busybox httpd`` on port 80 serving a page that says it is a
                                  labkit stand-in for nginx, with the pod's name and IP
  ``labkit/hello``, ``:*``        ``busybox httpd`` on port 8080 answering with the pod's name and IP
  ``python``, ``python:*``        ``python``, ``python3`` and ``python3.X`` run this machine's interpreter
                                  (:mod:`labkit.images.hostpython`), busybox applets as in ``busybox``

  Any other image fails to pull (``ErrImagePull``) with a message listing these.
- **Network namespace** (``netns``, :mod:`labkit.network.netns`): as root, this machine's loopback;
  without root, the cluster's own namespace, where pods start through ``nsenter`` and ports below 1024
  are open to them (the nginx stand-in listens on 80, as in its image). Where neither is possible (no
  root, no user namespaces), the nginx stand-in listens on port + 10000 (80 -> 10080) instead;
  ``port_forward`` to 80 reaches it, and the Pulled event's message says so.
- **Volumes**: a process cannot have a mount namespace here, so each mount's container path is
  rewritten to its host directory in the command, args, working dir and exec commands
  (``cat /etc/config/key`` reads the kubelet-prepared file); the container's directory also holds a
  ``rootfs`` with a symlink per mount.

- **Stats** (:meth:`ProcessRuntime.list_container_stats`): a container is its process group, so its
  CPU time is that of the group's live processes (with their waited-for children's) and its working
  set their resident memory (pages shared between them are counted once each), read from ``/proc``
  (:func:`process_group_usage`), or from its cgroup when it has one. A process of the group that
  exits unwaited-for takes its CPU time with it (not so with a cgroup). The nodes of one cluster share
  a machine, and metrics-server scrapes them together: one pass over ``/proc`` serves every process
  runtime of this Python process for :data:`SHARED_SCAN_SECONDS` (a real node's cAdvisor reads its
  own cgroups; here each node would read all of ``/proc`` again).

Logs are CRI-format files (``<time> <stream> F|P <line>``, P for a partial line), one per container, kept until the
container is removed (the kubelet keeps the previous attempt, so ``--previous`` works). ``cleanup()``
kills every process group this runtime started, by the group ids it recorded, and removes its cgroups.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import fcntl
import functools
import itertools
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import termios
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence, Set
from pathlib import Path
from typing import BinaryIO

from labkit import owner
from labkit.apimachinery.timeutil import micro_time, now_utc
from labkit.images import hostpython
from labkit.images.definitions import busybox_path
from labkit.kubelet.runtime import (
    Cgroup,
    ContainerConfig,
    ContainerStats,
    ContainerStatus,
    CRIError,
    ExecSession,
    ImagePullError,
    ImageRef,
    Mount,
    PodSandboxConfig,
    ProgressFn,
    Runtime,
    SandboxStatus,
    port_forward_error,
    proccgroups,
)
from labkit.kubelet.runtime.cgroups import cgroup_of, read_small, usage_of_pid
from labkit.network.netns import HOST, HostNamespace, unprivileged_port_start

BUSYBOX = str(busybox_path())
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMAGES = {"busybox": "the command runs with the host's busybox",
          "python": "the command runs with this machine's Python and its standard library",
          "nginx": "a stand-in web server (busybox httpd) on port 80",
          "labkit/hello": "a web server on port 8080 answering with the pod's name and IP"}
STAND_IN_PORTS = {"nginx": 80, "labkit/hello": 8080}
RUNS = "busybox applets, and python in the python image"
REMAP_OFFSET = 10000
_ids = itertools.count(1)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def image_family(image: str) -> str | None:
    """``docker.io/library/nginx:1.27`` -> ``nginx``; None for images this runtime cannot run."""
    name = image.split("@", 1)[0]
    for prefix in ("docker.io/", "library/"):
        name = name.removeprefix(prefix)
    name = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return name if name in IMAGES else None


@functools.cache
def busybox_applets(busybox: str = BUSYBOX) -> frozenset[str]:
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=False).stdout
    return frozenset(out.split())


def rewrite_paths(text: str, mounts: Sequence[Mount]) -> str:
    """Replace each mount's container path (as a whole path prefix) by its host directory."""
    for m in sorted(mounts, key=lambda m: -len(m.container_path)):
        pattern = r"(?<![\w./-])" + re.escape(m.container_path.rstrip("/")) + r"(?=[/\s'\";:)]|$)"
        text = re.sub(pattern, _verbatim(m.host_path), text)
    return text


def _verbatim(replacement: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement used as it is (no backslash escapes or group references in it)."""
    return lambda _: replacement


@dataclasses.dataclass
class _Sandbox:
    config: PodSandboxConfig
    status: SandboxStatus
    remaps: dict[int, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Container:
    config: ContainerConfig
    status: ContainerStatus
    directory: Path
    argv: list[str]
    env: dict[str, str]
    cwd: str
    proc: asyncio.subprocess.Process | None = None
    waiter: asyncio.Task[None] | None = None
    cgroup: proccgroups.ContainerCgroup | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "log"



def leftovers() -> list[owner.Leftover]:
    """The process groups that process runtimes of labkit processes no longer running left behind (a
    crashed cluster), then their cgroups. Only group leaders are listed: the runtime starts each
    container as one, and killing the group takes the rest."""
    found = []
    for pid, tag, _ in owner.orphans():
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(owner.Leftover("process group", f"{pid} ({command.strip()[:60]})", tag,
                                            functools.partial(owner.kill, pid, group=True), pid=pid))
    return found + (proccgroups.leftovers() if proccgroups.unavailable() is None else [])


def cleanup_leftovers() -> int:
    """Kill the process groups that crashed clusters' process runtimes left and remove their cgroups;
    returns how many."""
    return owner.remove_all(leftovers())


#: how long one pass over /proc answers every process runtime of this Python process
SHARED_SCAN_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class GroupUsage:
    """One pass over ``/proc`` at ``at`` (unix seconds, monotonic ``taken``): CPU nanoseconds and resident
    pages of each process group of ``groups`` that had a live process."""

    at: float
    taken: float
    groups: frozenset[int]
    cpu: dict[int, int]
    pages: dict[int, int]


_runtimes: weakref.WeakSet[ProcessRuntime] = weakref.WeakSet()
_last_scan: GroupUsage | None = None


def shared_group_usage(groups: set[int]) -> GroupUsage:
    """The usage of ``groups``: the last pass if it is recent and covered them, else a new pass over
    the groups of every process runtime of this process."""
    global _last_scan
    last = _last_scan
    if last is not None and time.monotonic() - last.taken < SHARED_SCAN_SECONDS and groups <= last.groups:
        return last
    wanted = frozenset(groups.union(*(r.scanned_groups() for r in list(_runtimes))))
    taken, at = time.monotonic(), time.time()
    cpu, pages = process_group_usage(wanted)
    _last_scan = GroupUsage(at, taken, wanted, cpu, pages)
    return _last_scan


def process_group_usage(groups: Set[int]) -> tuple[dict[int, int], dict[int, int]]:
    """CPU nanoseconds and resident pages of the live processes in each of ``groups`` (process group
    ids), from one pass over ``/proc``: a process's own time is the larger of ``schedstat``'s (exact,
    its main thread) and ``stat``'s utime + stime (all its threads, in clock ticks), plus its
    waited-for children's cutime + cstime; pages are ``stat``'s rss."""
    cpu: dict[int, int] = {}
    pages: dict[int, int] = {}
    if not groups:
        return cpu, pages
    tick = 1_000_000_000 // CLOCK_TICKS
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = read_small(f"/proc/{entry.name}/stat").rsplit(b")", 1)[1].split()
            if int(fields[2]) not in groups:
                continue
            on_cpu = int(read_small(f"/proc/{entry.name}/schedstat").split()[0])
        except (OSError, IndexError, ValueError):  # it exited meanwhile
            continue
        pgrp = int(fields[2])
        own = max(on_cpu, (int(fields[11]) + int(fields[12])) * tick)
        cpu[pgrp] = cpu.get(pgrp, 0) + own + (int(fields[13]) + int(fields[14])) * tick
        pages[pgrp] = pages.get(pgrp, 0) + int(fields[21])
    return cpu, pages


class ProcessRuntime(Runtime):
    """One node's process containers, under ``root_dir`` (logs, stand-in pages, rootfs symlinks)."""

    name = "process"

    def __init__(self, *, root_dir: str | Path, node: str = "", busybox: str = BUSYBOX,
                 netns: HostNamespace = HOST) -> None:
        self.root = Path(root_dir)
        self.netns = netns
        self.node = node
        self.busybox = busybox
        self._sandboxes: dict[str, _Sandbox] = {}
        self._containers: dict[str, _Container] = {}
        self._groups: set[int] = set()  # process group ids started here (cleanup kills exactly these)
        why = proccgroups.unavailable()
        self.limits_not_enforced = f"the process runtime cannot make cgroups: {why}" if why else ""
        _runtimes.add(self)

    def _running(self) -> dict[int, _Container]:
        """Running containers by process group id."""
        return {c.proc.pid: c for c in self._containers.values() if c.proc is not None and c.status.state == "running"}

    def scanned_groups(self) -> set[int]:
        """The process groups whose usage comes from /proc: running containers without a cgroup."""
        return {pgid for pgid, c in self._running().items() if c.cgroup is None}

    # --- images ---

    async def pull_image(self, image: str, *, progress: ProgressFn | None = None) -> ImageRef:
        family = image_family(image)
        if family is None:
            known = "; ".join(f"{k} ({v})" for k, v in IMAGES.items())
            raise ImagePullError(f'the process runtime cannot run image "{image}": it runs only {known}')
        note, stand_in = "", "busybox httpd" if family == "nginx" else ""  # labkit/hello is labkit's own
        if family == "python":
            note, stand_in = f"labkit stand-in for python: {hostpython.summary()}", str(hostpython.interpreter())
        if family in STAND_IN_PORTS:
            port = STAND_IN_PORTS[family]
            note = f"labkit stand-in for {family}: busybox httpd on port {port}"
            if not self.netns.can_bind(port):
                note += (f" (not root: ports below {unprivileged_port_start()} are not allowed, so it listens on "
                         f"{port + REMAP_OFFSET}; port-forward to {port} reaches it)")
        return ImageRef(image=image, ref=f"process://{family}", note=note, stand_in=stand_in)

    # --- sandboxes ---

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        sid = f"sandbox-{os.getpid()}-{next(_ids)}"
        (self.root / "sandboxes" / sid).mkdir(parents=True, exist_ok=True)
        self._sandboxes[sid] = _Sandbox(config, SandboxStatus(
            id=sid, name=config.name, namespace=config.namespace, uid=config.uid, ip=config.ip, state="ready",
            created_at=time.time(), labels=dict(config.labels)))
        return sid

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        for c in [c for c in self._containers.values() if c.status.sandbox_id == sandbox_id]:
            await self.stop_container(c.status.id, 0)
        if sandbox_id in self._sandboxes:
            sb = self._sandboxes[sandbox_id]
            sb.status = dataclasses.replace(sb.status, state="notready")

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        await self.stop_pod_sandbox(sandbox_id)
        for c in [c for c in self._containers.values() if c.status.sandbox_id == sandbox_id]:
            await self.remove_container(c.status.id)
        self._sandboxes.pop(sandbox_id, None)
        shutil.rmtree(self.root / "sandboxes" / sandbox_id, ignore_errors=True)

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        return [sb.status for sb in self._sandboxes.values()]

    # --- containers ---

    async def create_container(self, sandbox_id: str, config: ContainerConfig, sandbox: PodSandboxConfig) -> str:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            raise CRIError("CreateContainerError", f"sandbox {sandbox_id} not found")
        family = image_family(config.image)
        if family is None:
            raise CRIError("CreateContainerError", f'image "{config.image}" is not available')
        cid = f"{os.getpid():x}{next(_ids):06x}"
        directory = self.root / "containers" / cid
        rootfs = directory / "rootfs"
        rootfs.mkdir(parents=True)
        for m in config.mounts:
            link = rootfs / m.container_path.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(m.host_path)
        env = {"PATH": PATH, "HOSTNAME": sandbox.hostname, "POD_IP": sandbox.ip, "HOME": str(rootfs),
               owner.OWNER_ENV: owner.OWNER, **config.env}
        argv = self._argv(family, config, sandbox, sb, directory)
        cwd = rewrite_paths(config.working_dir, config.mounts) if config.working_dir else str(rootfs)
        self._containers[cid] = _Container(
            config=config, directory=directory, argv=argv, env=env, cwd=cwd,
            status=ContainerStatus(id=cid, name=config.name, sandbox_id=sandbox_id, state="created",
                                   image=config.image, image_ref=f"process://{family}", created_at=time.time(),
                                   attempt=config.restart_count, labels=dict(config.labels)))
        return cid

    def _argv(self, family: str, config: ContainerConfig, sandbox: PodSandboxConfig, sb: _Sandbox,
              directory: Path) -> list[str]:
        """The host command for a container: ``command`` + ``args`` (kube's entrypoint/cmd rules), or the stand-in."""
        words = [*config.command, *config.args] if config.command else list(config.args)
        if not words and family in STAND_IN_PORTS:
            port = STAND_IN_PORTS[family]
            if not self.netns.can_bind(port):
                sb.remaps[port] = port + REMAP_OFFSET
            www = directory / "www"
            www.mkdir()
            (www / "index.html").write_text(self._page(family, sandbox))
            return [self.busybox, "httpd", "-f", "-v",
                    "-p", f"{sandbox.ip}:{sb.remaps.get(port, port)}", "-h", str(www)]
        default = ["python3"] if family == "python" else ["sh"]  # the image's CMD
        return self._resolve([rewrite_paths(w, config.mounts) for w in (words or default)], family)

    @staticmethod
    def _page(family: str, sandbox: PodSandboxConfig) -> str:
        if family == "nginx":
            return (f"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head><body>\n"
                    f"<h1>Welcome to nginx!</h1>\n<p>This is a labkit stand-in for nginx (busybox httpd), "
                    f"serving pod {sandbox.name} at {sandbox.ip}.</p>\n</body></html>\n")
        return f"Hello from labkit/hello: pod {sandbox.name}, IP {sandbox.ip}\n"

    def _resolve(self, argv: list[str], family: str) -> list[str]:
        """Run argv[0] as a busybox applet (``/bin/sh`` -> ``busybox sh``), or in the ``python`` image as this
        machine's interpreter; empty if it is neither."""
        program = os.path.basename(argv[0])
        if family == "python" and program in hostpython.NAMES:
            return [str(hostpython.interpreter()), *argv[1:]]
        return [self.busybox, program, *argv[1:]] if program in busybox_applets(self.busybox) else []

    async def start_container(self, container_id: str) -> None:
        c = self._get(container_id)
        now = time.time()
        if not c.argv:
            message = f'exec: "{c.config.command[0] if c.config.command else c.config.args[0]}": executable file ' \
                      f'not found in $PATH (the process runtime runs {RUNS})'
            c.log_path.write_text(f"{micro_time()} stderr F {message}\n")
            c.status = dataclasses.replace(c.status, state="exited", exit_code=128, reason="StartError",
                                           message=message, started_at=now, finished_at=now)
            return
        argv = c.argv
        if not self.limits_not_enforced:
            try:
                c.cgroup = proccgroups.ContainerCgroup(container_id, c.config)
            except OSError as e:
                raise CRIError("RunContainerError", f"failed to create the cgroup of {c.config.name}: {e}") from e
            argv = c.cgroup.enter(argv, self.busybox)
        log = c.log_path.open("ab", buffering=0)
        try:
            c.proc = await asyncio.create_subprocess_exec(
                *self.netns.enter(argv), env=c.env, cwd=c.cwd, start_new_session=True, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.PIPE if c.config.stdin else asyncio.subprocess.DEVNULL)
        except OSError as e:
            log.close()
            raise CRIError("RunContainerError", f"failed to start container {c.config.name}: {e}") from e
        self._groups.add(c.proc.pid)
        c.status = dataclasses.replace(c.status, state="running", started_at=now)
        c.waiter = asyncio.get_running_loop().create_task(self._wait(c, log))

    async def _wait(self, c: _Container, log: BinaryIO) -> None:
        assert c.proc is not None and c.proc.stdout is not None and c.proc.stderr is not None

        async def copy(stream: asyncio.StreamReader, name: str) -> None:
            while chunk := await stream.read(65536):
                *lines, rest = chunk.split(b"\n")
                prefix = f"{micro_time()} {name} ".encode()
                records = [prefix + b"F " + line + b"\n" for line in lines]
                if rest:  # a partial line (CRI tag P) is logged now, not held until its newline comes
                    records.append(prefix + b"P " + rest + b"\n")
                log.write(b"".join(records))

        try:
            await asyncio.gather(copy(c.proc.stdout, "stdout"), copy(c.proc.stderr, "stderr"))
            code = await c.proc.wait()
        finally:
            log.close()
        code = 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell reports it
        reason = "OOMKilled" if c.cgroup and c.cgroup.oom_kills() else "Completed" if code == 0 else "Error"
        c.status = dataclasses.replace(c.status, state="exited", exit_code=code, finished_at=time.time(),
                                       reason=reason)
        self._kill_group(c.proc.pid, signal.SIGKILL)  # children the main process left behind

    def _kill_group(self, pgid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def stop_container(self, container_id: str, timeout: float) -> None:
        c = self._containers.get(container_id)
        if c is None or c.proc is None or c.waiter is None or c.waiter.done():
            return
        self._kill_group(c.proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(c.waiter), timeout=max(timeout, 0.01))
        except TimeoutError:
            self._kill_group(c.proc.pid, signal.SIGKILL)
            await c.waiter

    async def remove_container(self, container_id: str) -> None:
        await self.stop_container(container_id, 0)
        c = self._containers.pop(container_id, None)
        if c is not None:
            if c.cgroup is not None:
                c.cgroup.remove()
            shutil.rmtree(c.directory, ignore_errors=True)

    def _get(self, container_id: str) -> _Container:
        try:
            return self._containers[container_id]
        except KeyError:
            raise CRIError("NotFound", f"container {container_id} not found") from None

    async def container_status(self, container_id: str) -> ContainerStatus:
        return self._get(container_id).status

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [c.status for c in self._containers.values() if sandbox_id is None or c.status.sandbox_id == sandbox_id]

    async def list_container_stats(self) -> list[ContainerStats]:
        groups = self._running()
        scan = shared_group_usage({pgid for pgid, c in groups.items() if c.cgroup is None})
        stats = []
        for pgid, c in groups.items():
            if c.cgroup is not None:
                try:
                    now, usage = time.time(), usage_of_pid(pgid)
                except OSError:  # it exited meanwhile
                    continue
                used = usage.cpu_nanoseconds, usage.working_set_bytes
            elif pgid in scan.cpu:
                now, used = scan.at, (scan.cpu[pgid], scan.pages[pgid] * PAGE_SIZE)
            else:
                continue
            stats.append(ContainerStats(
                id=c.status.id, sandbox_id=c.status.sandbox_id, name=c.config.name, started_at=c.status.started_at,
                timestamp=now, cpu_usage_core_nanoseconds=used[0], memory_working_set_bytes=used[1],
                alias=c.status.id, image=c.config.image))
        return stats

    async def container_cgroup(self, container_id: str) -> Cgroup:
        c = self._get(container_id)
        if c.cgroup is None:
            raise CRIError("Unimplemented", f"container {c.config.name} has no cgroup: {self.limits_not_enforced}")
        try:
            if c.proc is not None and c.status.state == "running":
                return cgroup_of(c.proc.pid)
        except OSError:  # it exited meanwhile
            pass
        raise CRIError("FailedPrecondition", f"container {c.config.name} is not running")

    # --- streaming ---

    async def logs(self, container_id: str, *, follow: bool = False, tail_lines: int | None = None,
                   since_seconds: int | None = None, timestamps: bool = False,
                   limit_bytes: int | None = None) -> AsyncIterator[bytes]:
        c = self._get(container_id)
        since = ""
        if since_seconds is not None:
            since = micro_time(now_utc() - dt.timedelta(seconds=since_seconds))
        budget = limit_bytes if limit_bytes is not None else -1

        def render(raw: bytes) -> bytes | None:
            ts, _, rest = raw.partition(b" ")
            _stream, _, rest = rest.partition(b" ")
            tag, _, content = rest.partition(b" ")
            if since and ts.decode() < since:
                return None
            if tag == b"P":
                content = content[:-1]
            return (ts + b" " + content) if timestamps else content

        try:
            f = c.log_path.open("rb")
        except FileNotFoundError:
            return
        with f:
            lines = [r for r in (render(raw) for raw in f.readlines()) if r is not None]
            if tail_lines is not None:
                lines = lines[-tail_lines:] if tail_lines > 0 else []
            for line in lines:
                if budget == 0:
                    return
                chunk = line if budget < 0 else line[:budget]
                budget -= len(chunk) if budget > 0 else 0
                yield chunk
            while follow and budget != 0:
                raw = f.readline()
                if not raw:
                    if c.status.state == "exited" or container_id not in self._containers:
                        return
                    await asyncio.sleep(0.1)
                    continue
                rendered = render(raw)
                if rendered is not None:
                    chunk = rendered if budget < 0 else rendered[:budget]
                    budget -= len(chunk) if budget > 0 else 0
                    yield chunk

    async def exec(self, container_id: str, command: Sequence[str], *, tty: bool, stdin: bool) -> ExecSession:
        c = self._get(container_id)
        if c.status.state != "running":
            raise CRIError("FailedPrecondition", f"container {container_id} is not running")
        family = image_family(c.config.image) or ""
        argv = self._resolve([rewrite_paths(w, c.config.mounts) for w in command], family) if command else []
        if not argv:
            raise CRIError("NotFound", f'exec: "{command[0] if command else ""}": executable file not found in $PATH '
                                       f'(the process runtime runs {RUNS})')
        if c.cgroup is not None:  # an exec'd process is the container's: its limits apply to it too
            argv = c.cgroup.enter(argv, self.busybox)
        return await ProcessExecSession.start(self.netns.enter(argv), env=c.env, cwd=c.cwd,
                                              tty=tty, stdin=stdin, groups=self._groups)

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> ExecSession:
        c = self._get(container_id)
        if c.status.state != "running" or c.proc is None:
            raise CRIError("FailedPrecondition", f"container {container_id} is not running")
        return AttachSession(self, c, stdin=stdin)

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            raise CRIError("NotFound", f"sandbox {sandbox_id} not found")
        try:
            return await self.open_connection(sb.config.ip, sb.remaps.get(port, port))
        except OSError as e:
            raise port_forward_error(sandbox_id, sb.config.ip, port, e) from e

    async def open_connection(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await self.netns.open_connection(host, port)

    # --- lifecycle ---

    async def cleanup(self) -> None:
        for pgid in self._groups:
            self._kill_group(pgid, signal.SIGKILL)
        waiters = [c.waiter for c in self._containers.values() if c.waiter is not None]
        if waiters:
            await asyncio.wait(waiters, timeout=5)
        for c in self._containers.values():
            if c.cgroup is not None:
                c.cgroup.remove()
        self._groups.clear()
        self._containers.clear()
        self._sandboxes.clear()
        shutil.rmtree(self.root / "containers", ignore_errors=True)
        shutil.rmtree(self.root / "sandboxes", ignore_errors=True)


class ProcessExecSession(ExecSession):
    """A process started in a container's environment; a TTY is a pseudo-terminal (stdout and stderr merged).
    It inherits this process's ignored signals (a container runtime's shim starts with none ignored):
    labkit run as a background job of a non-interactive shell ignores SIGINT, and ^C then stops nothing."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int | None) -> None:
        self.proc = proc
        self.master = master
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._readers = 0

    @classmethod
    async def start(cls, argv: list[str], *, env: Mapping[str, str], cwd: str, tty: bool, stdin: bool,
                    groups: set[int]) -> ProcessExecSession:
        if tty:
            master, slave = pty.openpty()
            # The terminal must become the session's controlling terminal, or a shell has no job control and
            # ^C reaches nothing: a new session leader acquires the first terminal it opens, so a shell
            # re-opens it by name, then becomes the command (no preexec_fn in a threaded process).
            argv = ["/bin/sh", "-c", 'exec "$@" <>"$0" >&0 2>&0', os.ttyname(slave), *argv]
            proc = await asyncio.create_subprocess_exec(*argv, env=dict(env), cwd=cwd, start_new_session=True,
                                                        stdin=slave, stdout=slave, stderr=slave)
            os.close(slave)
            session = cls(proc, master)
            session._pump_pty()
        else:
            proc = await asyncio.create_subprocess_exec(
                *argv, env=dict(env), cwd=cwd, start_new_session=True, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL)
            session = cls(proc, None)
            assert proc.stdout is not None and proc.stderr is not None
            session._pump(proc.stdout, 1)
            session._pump(proc.stderr, 2)
        groups.add(proc.pid)
        return session

    def _pump(self, stream: asyncio.StreamReader, n: int) -> None:
        self._readers += 1

        async def run() -> None:
            try:
                while chunk := await stream.read(65536):
                    await self._queue.put((n, chunk))
            finally:
                await self._queue.put(None)

        asyncio.get_running_loop().create_task(run())

    def _pump_pty(self) -> None:
        assert self.master is not None
        self._readers += 1
        loop, master = asyncio.get_running_loop(), self.master

        def readable() -> None:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                chunk = b""
            if chunk:
                self._queue.put_nowait((1, chunk))
            else:
                loop.remove_reader(master)
                self._queue.put_nowait(None)

        loop.add_reader(master, readable)

    async def write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            os.write(self.master, data)
        elif self.proc.stdin is not None:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is not None:
            os.write(self.master, b"\x04")  # end of file, as a terminal sends it
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        ended = 0
        while ended < self._readers:
            item = await self._queue.get()
            if item is None:
                ended += 1
            else:
                yield item

    async def wait(self) -> int:
        code = await self.proc.wait()
        if self.master is not None:
            asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            self.master = None
            self._queue.put_nowait(None)
        return 128 - code if code < 0 else code

    async def resize(self, width: int, height: int) -> None:
        if self.master is not None:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class AttachSession(ExecSession):
    """Attach to a running container: its new output from now on, and its stdin if it was opened with one."""

    def __init__(self, runtime: ProcessRuntime, container: _Container, *, stdin: bool) -> None:
        self.runtime = runtime
        self.container = container
        self.stdin = stdin
        self._offset = container.log_path.stat().st_size if container.log_path.exists() else 0

    async def write_stdin(self, data: bytes) -> None:
        proc = self.container.proc
        if self.stdin and proc is not None and proc.stdin is not None:
            proc.stdin.write(data)
            await proc.stdin.drain()

    async def close_stdin(self) -> None:
        proc = self.container.proc
        if self.container.config.stdin_once and proc is not None and proc.stdin is not None:
            proc.stdin.close()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        with self.container.log_path.open("rb") as f:
            f.seek(self._offset)
            while True:
                raw = f.readline()
                if not raw:
                    if self.container.status.state == "exited":
                        return
                    await asyncio.sleep(0.05)
                    continue
                _ts, _, rest = raw.partition(b" ")
                stream, _, rest = rest.partition(b" ")
                tag, _, content = rest.partition(b" ")
                yield (2 if stream == b"stderr" else 1), content[:-1] if tag == b"P" else content

    async def wait(self) -> int:
        if self.container.waiter is not None:
            await asyncio.shield(self.container.waiter)
        return self.container.status.exit_code

    async def resize(self, width: int, height: int) -> None:
        """The process runtime gives containers no terminal, so there is nothing to resize."""

    async def kill(self) -> None:
        """Detaching leaves the container running."""
