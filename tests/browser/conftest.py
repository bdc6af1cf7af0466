"""A JupyterLab server and a headless Chromium page for the real-browser tests.

The server gets Galata's test settings (``jupyterlab/galata/__init__.py``: no token, no XSRF check,
``window.jupyterapp`` exposed) on a free 127.0.0.1 port, with its own config, data, runtime and
workspace folders and a temporary root holding the notebooks under test. Chromium is Debian's
``/usr/bin/chromium`` driven by Playwright; no Playwright browser is ever downloaded.

Chromium aborts every request in flight (``ERR_NETWORK_CHANGED``) whenever an interface of its network
namespace changes, as Docker's bridges and pods' veth pairs do on the host. As root, the server, its
kernels and Chromium therefore share a network namespace of their own whose one interface is loopback
(:func:`own_network`); as an ordinary account they share this process's, and CI runs that account's
lane in a namespace of its own (``.ci/unprivileged``).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from testkit import need

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions"]
HERE = Path(__file__).parent
COURSE = HERE.parents[1] / "course"
JUPYTER = Path(sys.executable).parent / "jupyter"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def own_network() -> Iterator[list[str]]:
    """The command prefix that runs a program in a new network namespace with loopback only, shared by
    every program it starts; ``[]`` (this process's namespace) where that cannot be made: not root, or
    no ``unshare``. The namespace lives as long as a ``sleep`` holding it, stopped by its PID."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter") and shutil.which("ip")):
        yield []
        return
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"])
    try:
        ns, own = f"/proc/{holder.pid}/ns/net", os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10
        while holder.poll() is None and time.monotonic() < deadline and os.readlink(ns) == own:
            time.sleep(0.01)
        if holder.poll() is not None or os.readlink(ns) == own:
            raise RuntimeError(f"unshare --net did not make a network namespace (exit {holder.poll()})")
        enter = ["nsenter", f"--net={ns}", "--"]
        subprocess.run([*enter, "ip", "link", "set", "lo", "up"], check=True)
        yield enter
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(scope="session")
def network() -> Iterator[list[str]]:
    """:func:`own_network`'s prefix, one namespace for the whole session's servers and browsers."""
    with own_network() as enter:
        yield enter


@contextmanager
def jupyter_lab(base: Path, notebooks: Path, env: dict[str, str], enter: list[str]) -> Iterator[str]:
    """Run ``jupyter lab`` on a copy of ``notebooks`` (a folder, copied whole: the server saves what
    it opens) with its state under ``base``, ``env`` added to this process's environment and ``enter``
    prefixing its command (:func:`own_network`); yields its base URL. The notebook view renders every
    cell (``windowingMode: none``), so the DOM holds all outputs to check and screenshot."""
    need(JUPYTER.exists(), f"jupyter at {JUPYTER}")
    root = base / "root"
    shutil.copytree(notebooks, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    tracker = base / "config/lab/user-settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    settings = base / "settings" / "overrides.d"  # the course's JupyterLab settings, as `make course` installs them
    settings.mkdir(parents=True)
    shutil.copy(HERE.parents[1] / "scripts" / "jupyterlab" / "labkit-course.json", settings)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(base / "config"), "JUPYTER_DATA_DIR": str(base / "data"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "IPYTHONDIR": str(base / "ipython"),
           "KUBECONFIG": str(base / "no-kubeconfig"), **env}
    port = free_port()
    cmd = [str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
           "--LabApp.expose_app_in_browser=True", f"--ServerApp.root_dir={root}",
           f"--LabApp.workspaces_dir={base / 'workspaces'}", f"--LabApp.app_settings_dir={base / 'settings'}",
           "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = (base / "server.log").open("w")
    server = subprocess.Popen([*enter, *cmd], env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url + "/api/status", server, base / "server.log", enter)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, network: list[str]) -> Iterator[str]:
    """Base URL of a running ``jupyter lab`` whose root holds this folder's notebooks (sim runtime)."""
    with jupyter_lab(tmp_path_factory.mktemp("lab"), HERE, {"LABKIT_RUNTIME": "sim"}, network) as url:
        yield url


def _wait_ready(url: str, server: subprocess.Popen[Any], log: Path, enter: list[str], timeout: float = 60) -> None:
    """Wait until ``url`` answers, asked from the server's network namespace (``enter``)."""
    deadline = time.monotonic() + timeout
    ask = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        if enter:
            if subprocess.run([*enter, sys.executable, "-c", ask, url], capture_output=True).returncode == 0:
                return
            time.sleep(0.3)
            continue
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"jupyter lab did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


@contextmanager
def chromium(enter: list[str]) -> Iterator[Any]:
    """Debian's headless Chromium under Playwright (skip without either, outside CI), its command
    prefixed by ``enter`` (:func:`own_network`; Playwright talks to it over pipes)."""
    need(CHROMIUM.exists(), f"Debian's chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright (pip install -e '.[dev]')")
    with tempfile.TemporaryDirectory(prefix="labkit-chromium-") as folder, sync_playwright() as p:
        executable = CHROMIUM
        if enter:
            executable = Path(folder) / "chromium"
            executable.write_text(f"#!/bin/sh\nexec {shlex.join([*enter, str(CHROMIUM)])} \"$@\"\n")
            executable.chmod(0o700)
        browser = p.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def offline_page(browser: Any) -> Any:
    """A new page that may only reach 127.0.0.1; ``page.blocked`` lists every other URL it tried (the
    widgets must work offline), ``page.console_errors`` its console errors and uncaught exceptions."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.blocked, page.console_errors = [], []

    def route(r: Any) -> None:
        if r.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            page.blocked.append(r.request.url)
            r.abort()
    page.route("**/*", route)
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.console_errors.append(f"page error: {exc}"))
    return page


@pytest.fixture
def browser_page(lab: str, network: list[str]) -> Iterator[Any]:
    """An :func:`offline_page` in headless Chromium."""
    with chromium(network) as browser:
        yield offline_page(browser)


@pytest.fixture(scope="module")
def course_lab(tmp_path_factory: pytest.TempPathFactory, network: list[str]) -> Iterator[str]:
    """Base URL of a ``jupyter lab`` on a copy of ``course/``; its kernels run on the runtime
    ``LABKIT_RUNTIME`` names (process unless set) and see this process's environment, as nbval's do."""
    runtime = os.environ.get("LABKIT_RUNTIME", "process")
    with jupyter_lab(tmp_path_factory.mktemp("course-lab"), COURSE, {"LABKIT_RUNTIME": runtime}, network) as url:
        yield url


@pytest.fixture(scope="module")
def course_page(course_lab: str, network: list[str]) -> Iterator[Any]:
    """One :func:`offline_page` for all the course's notebooks: JupyterLab stays loaded from one
    notebook to the next (each load of it costs seconds of CPU)."""
    with chromium(network) as browser:
        yield offline_page(browser)
