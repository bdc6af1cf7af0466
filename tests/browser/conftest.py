"""A JupyterLab server and a headless Chromium page for the real-browser tests.

The server gets Galata's test settings (``jupyterlab/galata/__init__.py``: no token, no XSRF check,
``window.jupyterapp`` exposed) on a free 127.0.0.1 port, with its own config, data, runtime and
workspace folders and a temporary root holding the notebooks under test. Chromium is Debian's
``/usr/bin/chromium`` driven by Playwright; no Playwright browser is ever downloaded.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit import need

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions"]
HERE = Path(__file__).parent
JUPYTER = Path(sys.executable).parent / "jupyter"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running ``jupyter lab`` whose root holds this folder's notebooks."""
    need(JUPYTER.exists(), f"jupyter at {JUPYTER}")
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    for nb in HERE.glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    settings = base / "settings" / "overrides.d"  # the course's JupyterLab settings, as `make course` installs them
    settings.mkdir(parents=True)
    shutil.copy(HERE.parents[1] / "scripts" / "jupyterlab" / "labkit-course.json", settings)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(base / "config"), "JUPYTER_DATA_DIR": str(base / "data"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "IPYTHONDIR": str(base / "ipython"),
           "LABKIT_RUNTIME": "sim", "KUBECONFIG": str(base / "no-kubeconfig")}
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
    server = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url + "/api/status", server, base / "server.log")
        yield url
    finally:
        server.send_signal(signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_ready(url: str, server: subprocess.Popen[Any], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"jupyter lab did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def browser_page(lab: str) -> Iterator[Any]:
    """A Playwright page in headless Chromium that may only reach 127.0.0.1; ``page.blocked`` lists
    every other URL it tried (the widgets must work offline), ``page.console_errors`` its errors."""
    need(CHROMIUM.exists(), f"Debian's chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright (pip install -e '.[dev]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
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
        try:
            yield page
        finally:
            browser.close()
