"""Builds :mod:`labkit.images.definitions` with the Docker SDK, once per machine.

An image carries the hash of everything it was built from (Dockerfile, context files, busybox
binary, its base's hash) as the ``labkit.image.content-hash`` label: a build is skipped while the
tagged image has the current hash, and a changed definition rebuilds. Mirrors nothing in
Kubernetes (its images come from registries); it is ``docker build`` with an in-memory context.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import struct
import tarfile
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from labkit.images.definitions import LABEL_CONTENT_HASH, ImageDef, busybox_path

if TYPE_CHECKING:
    import docker

_build_locks: dict[str, threading.Lock] = {}
_build_locks_guard = threading.Lock()


class BuildError(Exception):
    """An image could not be built (missing busybox-static, or docker build failed)."""


def _is_static_elf(data: bytes) -> bool:
    """True when the ELF has no PT_INTERP program header (needs no dynamic loader)."""
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit ELF only
        return False
    endian = "<" if data[5] == 1 else ">"
    phoff, = struct.unpack_from(endian + "Q", data, 0x20)
    phentsize, phnum = struct.unpack_from(endian + "HH", data, 0x36)
    return all(struct.unpack_from(endian + "I", data, phoff + i * phentsize)[0] != 3 for i in range(phnum))


@functools.cache
def _busybox(path: Path, mtime_ns: int) -> tuple[bytes, str]:
    data = path.read_bytes()
    if not _is_static_elf(data):
        raise BuildError(f"{path} is not statically linked: install Debian's busybox-static")
    return data, hashlib.sha256(data).hexdigest()


def busybox_binary() -> tuple[bytes, str]:
    """The host's busybox-static and its sha256 (read once per version of the file)."""
    path = busybox_path()
    try:
        return _busybox(path, path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise BuildError(f"{path} not found: install Debian's busybox-static") from None


def content_hash(definition: ImageDef) -> str:
    h = hashlib.sha256(definition.dockerfile.encode())
    for path, (text, mode) in sorted(definition.files.items()):
        h.update(f"\0{path}\0{mode:o}\0{text}".encode())
    for path, host in sorted((definition.host_files or dict)().items()):  # a changed file has a new size or time
        stat = host.stat()
        h.update(f"\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    if definition.with_busybox:
        h.update(busybox_binary()[1].encode())
    if definition.base is not None:
        h.update(content_hash(definition.base).encode())
    return h.hexdigest()[:32]


def _context(definition: ImageDef) -> IO[bytes]:
    """The build context as a tar file (on disk: host files can make it large)."""
    buf = tempfile.TemporaryFile()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        entries = {"Dockerfile": (definition.dockerfile.encode(), 0o644)}
        entries.update({path: (text.encode(), mode) for path, (text, mode) in definition.files.items()})
        if definition.with_busybox:
            entries["busybox"] = (busybox_binary()[0], 0o755)
        for path, (data, mode) in entries.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        for path, host in (definition.host_files or dict)().items():  # a symlink's target, under the link's name
            info = tar.gettarinfo(os.path.realpath(host), arcname=path)
            with open(host, "rb") as f:
                tar.addfile(info, f)
    buf.seek(0)
    return buf


def current_image_id(api: docker.APIClient, definition: ImageDef) -> str | None:
    """The id of ``definition.tag`` if it is built from the current definition."""
    import docker.errors  # loaded with ``api``'s SDK; not by labkit.images (the process runtime reads definitions only)
    try:
        image = api.inspect_image(definition.tag)
    except docker.errors.ImageNotFound:
        return None
    labels = image["Config"].get("Labels") or {}
    return image["Id"] if labels.get(LABEL_CONTENT_HASH) == content_hash(definition) else None


def ensure_built(api: docker.APIClient, definition: ImageDef, *,
                 progress: Callable[[str], None] | None = None) -> str:
    """Build ``definition`` (and its base) unless current; return the image id. Blocking."""
    import docker.errors  # as in current_image_id
    with _build_locks_guard:
        lock = _build_locks.setdefault(definition.tag, threading.Lock())
    with lock:  # concurrent pods asking for the same image build it once
        if (image_id := current_image_id(api, definition)) is not None:
            return image_id
        if definition.base is not None:
            ensure_built(api, definition.base, progress=progress)
        if progress:
            progress(f"building {definition.tag} ({definition.summary})")
        try:
            with _context(definition) as context:
                for chunk in api.build(fileobj=context, custom_context=True, tag=definition.tag,
                                       labels={LABEL_CONTENT_HASH: content_hash(definition)},
                                       rm=True, forcerm=True, decode=True):
                    if "error" in chunk:
                        raise BuildError(f"building {definition.tag}: {chunk['error'].strip()}")
                    if progress and (line := chunk.get("stream", "").strip()):
                        progress(line)
        except docker.errors.APIError as e:
            raise BuildError(f"building {definition.tag}: {e.explanation or e}") from e
        image_id = current_image_id(api, definition)
        if image_id is None:
            raise BuildError(f"building {definition.tag}: no image with the expected content hash")
        return image_id
