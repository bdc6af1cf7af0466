"""Helpers the tests share (imported as ``testkit``; fixtures live in conftest.py): the pinned kubectl
binaries, CI's no-skip rule and polling."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")
KUBECTL_VERSIONS = ("1.27", "1.31", "1.33", "dispatcher")
IN_CI = os.environ.get("CI") == "true"


def need(condition: bool, why: str) -> None:
    """Skip on a user's machine without the tool; fail in CI, where a skip would hide a broken path."""
    if not condition:
        if IN_CI:
            pytest.fail(f"CI must have {why}")
        pytest.skip(f"needs {why}")


def kubectl_path(version: str) -> Path:
    path = KUBECTL_DIR / f"kubectl.{version}" if version != "dispatcher" else Path("/usr/bin/kubectl")
    need(path.exists(), f"kubectl {version} at {path}")
    return path


class Kubectl:
    """Runs one kubectl binary against one cluster with a private discovery cache."""

    def __init__(self, binary: Path, kubeconfig: Path, cache_dir: Path) -> None:
        self.binary, self.kubeconfig, self.cache_dir = binary, kubeconfig, cache_dir

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.binary), f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache_dir}", *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd[3:])} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def __call__(self, *args: str, **kw: object) -> str:
        return self.run(*args, **kw).stdout  # type: ignore[arg-type]


def wait_for(fn: Callable[[], Any], timeout: float = 30, every: float = 0.05,
             what: str | Callable[[], str] = "") -> Any:
    """Poll ``fn`` until it returns something truthy, and return that; fail after ``timeout`` seconds
    saying ``what`` was awaited (a string, or a function describing the state at the time)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    described = what() if callable(what) else what
    raise AssertionError(f"not met in {timeout}s: {described or getattr(fn, '__name__', fn)} (last: {last!r})")
