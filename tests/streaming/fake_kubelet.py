"""A KubeletAPI for tests: exec runs real local processes (with a pty for tty), port-forward dials real
local TCP servers, logs come from per-container lists a test appends to."""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import termios
from collections.abc import AsyncIterator

from labkit.apiserver.streaming import KubeletError
from labkit.kubelet.runtime import ExecSession


class ProcessSession(ExecSession):
    """An asyncio subprocess; with ``tty`` its stdin/stdout/stderr are one pseudo-terminal."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int | None) -> None:
        self.proc, self.master = proc, master
        self.chunks: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self.sizes: list[tuple[int, int]] = []
        loop = asyncio.get_running_loop()
        if master is not None:
            loop.add_reader(master, self._read_pty)
            self.open_streams = 1
        else:
            self.open_streams = 2
            for fd, stream in ((1, proc.stdout), (2, proc.stderr)):
                loop.create_task(self._pump(fd, stream))

    def _read_pty(self) -> None:
        assert self.master is not None
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child side is gone
            data = b""
        if data:
            self.chunks.put_nowait((1, data))
        else:
            asyncio.get_running_loop().remove_reader(self.master)
            self.chunks.put_nowait(None)

    async def _pump(self, fd: int, stream: asyncio.StreamReader | None) -> None:
        assert stream is not None
        while data := await stream.read(65536):
            self.chunks.put_nowait((fd, data))
        self.chunks.put_nowait(None)

    async def write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            os.write(self.master, data)
        elif self.proc.stdin is not None:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is None and self.proc.stdin is not None:
            self.proc.stdin.close()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        while self.open_streams:
            item = await self.chunks.get()
            if item is None:
                self.open_streams -= 1
            else:
                yield item

    async def wait(self) -> int:
        code = await self.proc.wait()
        if self.master is not None:
            os.close(self.master)
            self.master = None
        return code

    async def resize(self, width: int, height: int) -> None:
        self.sizes.append((width, height))
        if self.master is not None and width and height:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


class FakeKubelet:
    """Containers are keys ``(namespace, pod, container)``; ``ports`` maps a pod port to a local one."""

    def __init__(self) -> None:
        self.log_lines: dict[tuple[str, str, str], list[bytes]] = {}
        self.log_more: dict[tuple[str, str, str], asyncio.Queue[bytes | None]] = {}
        self.ports: dict[int, int] = {}
        self.attach_command = ["sh", "-c", "read line; echo attached: $line"]
        self.sessions: list[ProcessSession] = []

    def add_log(self, key: tuple[str, str, str], *lines: str) -> None:
        self.log_lines.setdefault(key, []).extend(line.encode() + b"\n" for line in lines)

    def follow_queue(self, key: tuple[str, str, str]) -> asyncio.Queue[bytes | None]:
        return self.log_more.setdefault(key, asyncio.Queue())

    async def logs(self, namespace: str, pod: str, container: str, *, follow: bool, tail_lines: int | None,
                   since_seconds: int | None, timestamps: bool, previous: bool,
                   limit_bytes: int | None) -> AsyncIterator[bytes]:
        key = (namespace, pod, container)
        if previous:
            raise KubeletError(400, "BadRequest",
                               f'previous terminated container "{container}" in pod "{pod}" not found')
        lines = self.log_lines.get(key, [])
        for line in lines[-tail_lines:] if tail_lines is not None else lines:
            yield line
        if follow:
            queue = self.follow_queue(key)
            while (line := await queue.get()) is not None:
                yield line

    async def _start(self, command: list[str], *, tty: bool, stdin: bool) -> ProcessSession:
        if tty:
            master, slave = os.openpty()
            proc = await asyncio.create_subprocess_exec(*command, stdin=slave, stdout=slave, stderr=slave,
                                                        start_new_session=True)
            os.close(slave)
            session = ProcessSession(proc, master)
        else:
            proc = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            session = ProcessSession(proc, None)
        self.sessions.append(session)
        return session

    async def exec(self, namespace: str, pod: str, container: str, command: list[str], *, tty: bool,
                   stdin: bool) -> ExecSession:
        return await self._start(command, tty=tty, stdin=stdin)

    async def attach(self, namespace: str, pod: str, container: str, *, tty: bool, stdin: bool) -> ExecSession:
        return await self._start(self.attach_command, tty=tty, stdin=stdin)

    async def port_forward(self, namespace: str, pod: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if port not in self.ports:
            raise KubeletError(500, "InternalError", f"dial tcp4 127.0.0.1:{port}: connect: connection refused")
        return await asyncio.open_connection("127.0.0.1", self.ports[port])
