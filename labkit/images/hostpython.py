"""This machine's Python, as the ``python`` stand-in: the interpreter, its standard library and the
shared libraries they load, for an image (docker) or a command (process).

Tutorials and client test suites start pods from ``python`` (``python -m http.server``, ``python -c
...``), and no registry is reachable here, so labkit copies the interpreter that runs it: the base
interpreter, not a virtualenv's, without ``site-packages`` (a pod gets the standard library only, as
in the official image before ``pip install``). The image keeps the layout of the official ``python``
images: ``/usr/local/bin/python3.X`` (with ``python3`` and ``python``) and
``/usr/local/lib/python3.X``; each shared library keeps the path the host's loader found it at, so
the interpreter's own search path (its RUNPATH, the loader's cache) finds it in the container too.
On the process runtime, ``python`` in a container's command runs :func:`interpreter` itself.

Left out: the standard library's tests, ``idlelib``, ``tkinter``, ``turtledemo``, ``ensurepip`` and
``lib2to3`` (for size), compiled ``__pycache__`` files (Python writes them again), pip. The image's tag
is not honoured: ``python:3.12`` runs this machine's version, and the pod's Warning event says so.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

#: standard library folders the image leaves out (tests and GUI tools: about half the size)
SKIPPED = frozenset({"site-packages", "dist-packages", "test", "tests", "idlelib", "tkinter", "turtledemo",
                     "ensurepip", "lib2to3", "__pycache__"})
#: extension modules left out with them (``_tkinter`` alone would bring Tk and X11)
SKIPPED_EXTENSIONS = ("_tkinter", "_test", "xxlimited")
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
#: names a command may call the interpreter by
NAMES = frozenset({"python", "python3", f"python{VERSION}"})
_LDD_LINE = re.compile(r"(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)")


def interpreter() -> Path:
    """The base interpreter's real path (a virtualenv's ``python`` points at it)."""
    return Path(os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable))


def summary() -> str:
    return f"this machine's Python {sys.version.split()[0]} and its standard library"


def _libraries(binaries: list[Path]) -> set[str]:
    """The shared libraries ``binaries`` load, as the host's ``ldd`` resolves them."""
    found: set[str] = set()
    for start in range(0, len(binaries), 200):
        out = subprocess.run(["ldd", *map(str, binaries[start:start + 200])], capture_output=True, text=True,
                             check=False).stdout
        found.update(m.group(1) for m in map(_LDD_LINE.search, out.splitlines()) if m)
    return found


@functools.cache
def image_files() -> dict[str, Path]:
    """Path in the image -> host file, for the docker stand-in."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = {f"usr/local/bin/python{VERSION}": interpreter()}
    for folder, dirs, names in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
        for name in names:
            if name.endswith(".so") and name.startswith(SKIPPED_EXTENSIONS):
                continue
            path = Path(folder) / name
            files[f"usr/local/lib/python{VERSION}/{path.relative_to(stdlib)}"] = path
    extensions = [p for p in files.values() if p.suffix == ".so"]
    for library in _libraries([interpreter(), *extensions]):
        files[library.lstrip("/")] = Path(library)
    if Path("/etc/ld.so.cache").exists():
        files["etc/ld.so.cache"] = Path("/etc/ld.so.cache")
    return files


def dockerfile(base: str) -> str:
    return (f"FROM {base}\n"
            "COPY python/ /\n"
            f'RUN ["/bin/ln", "-s", "python{VERSION}", "/usr/local/bin/python3"]\n'
            f'RUN ["/bin/ln", "-s", "python{VERSION}", "/usr/local/bin/python"]\n'
            'CMD ["python3"]\n')
