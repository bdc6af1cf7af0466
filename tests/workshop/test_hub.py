"""The workshop's JupyterHub (workshop/jupyterhub_config.py) with two learners: one signs in for the first
time through the login form, the instructor adds the other through the hub's REST API; both get a Unix
account and a server, and a course notebook runs to the end in each, through the proxy and the kernel's
websocket, as a browser would. Needs root (it creates the accounts), configurable-http-proxy and the
hub's venv that workshop/install.sh makes (learners cannot read a venv under /root); skipped without
them, failed in CI. Everything it started is stopped by PID, the accounts and homes are deleted."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websocket
from testkit import need, wait_for

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "workshop" / "jupyterhub_config.py"
HUB_VENV = Path(os.environ.get("LABKIT_HUB", "/opt/labkit-hub"))
LEARNERS = ("labkit-hubtest-a", "labkit-hubtest-b")
NOTEBOOK = "labkit-course/01-intro/2-architecture.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _source_digest(package: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + path.read_bytes())
    return h.hexdigest()


def _hub_labkit_is_this_checkout() -> bool:
    found = sorted(HUB_VENV.glob("lib/python3*/site-packages/labkit"))
    return bool(found) and _source_digest(found[0]) == _source_digest(ROOT / "labkit")


def _remove_account(name: str) -> None:
    """Kill what still runs as the test's learner (only these accounts' processes), then delete it."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if proc.stat().st_uid == uid:
                    os.kill(int(proc.name), signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass
    subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)
    assert name not in {p.pw_name for p in pwd.getpwall()}, f"could not delete the test account {name}"


class Hub:
    """The hub as a child process, with a service token that may manage and reach the learners' servers."""

    def __init__(self, tmp: Path) -> None:
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = tmp / "state"
        self.log = tmp / "hub.log"
        wrapper = tmp / "jupyterhub_config.py"
        wrapper.write_text(f"""c = get_config()
load_subconfig({str(CONFIG)!r})
c.JupyterHub.bind_url = {self.url!r}
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{_free_port()}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{_free_port()}"
c.JupyterHub.services = [{{"name": "labkit-hubtest", "api_token": {self.token!r}}}]
c.JupyterHub.load_roles = [{{"name": "labkit-hubtest", "services": ["labkit-hubtest"],
    "scopes": ["admin:users", "admin:servers", "access:servers", "list:users", "read:users"]}}]
""")
        env = {"PATH": f"{HUB_VENV}/bin:{os.environ['PATH']}", "LANG": "C.UTF-8", "LABKIT_HUB_STATE": str(self.state)}
        self.proc = subprocess.Popen([str(HUB_VENV / "bin" / "jupyterhub"), "-f", str(wrapper)], cwd=tmp, env=env,
                                     stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.api = requests.Session()
        self.api.trust_env = False
        self.api.headers["Authorization"] = f"token {self.token}"

    def wait_up(self) -> None:
        wait_for(self._up, timeout=60, every=0.2, what=self.tail)

    def _up(self) -> bool:
        assert self.proc.poll() is None, f"the hub exited {self.proc.returncode}:\n{self.tail()}"
        try:
            return self.api.get(f"{self.url}/hub/api/", timeout=2).ok
        except requests.ConnectionError:
            return False

    def tail(self) -> str:
        """The log's last 40 lines, but for this test's own polling requests (200 GET of the REST API)."""
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join([line for line in lines if not re.search(r"\] 200 GET /hub/api/", line)][-40:])

    def call(self, method: str, path: str, **kw: object) -> requests.Response:
        return self.api.request(method, f"{self.url}{path}", timeout=30, **kw)  # type: ignore[arg-type]

    def stop(self) -> None:
        """SIGTERM: the hub stops the learners' servers and the proxy it started; then their PIDs are
        checked and killed if still there."""
        proxy_pid = self.state / "jupyterhub-proxy.pid"
        proxy = int(proxy_pid.read_text()) if proxy_pid.exists() else None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if proxy:
            try:
                os.kill(proxy, signal.SIGKILL)
            except ProcessLookupError:
                pass


def sign_in_first_time(hub: Hub, name: str, password: str) -> requests.Response:
    """What a learner does in the browser: the login form, with its _xsrf cookie."""
    s = requests.Session()
    s.trust_env = False
    s.get(f"{hub.url}/hub/login", timeout=30)
    return s.post(f"{hub.url}/hub/login", timeout=30, allow_redirects=False,
                  data={"username": name, "password": password, "_xsrf": s.cookies.get("_xsrf", "")})


def run_notebook(hub: Hub, name: str) -> str:
    """Every code cell of the learner's copy of NOTEBOOK, in a kernel their server starts (a session, as
    JupyterLab opens one, so the kernel runs in the notebook's folder); returns what the cells printed.
    Fails at the first cell that raises, with its traceback."""
    base = f"/user/{name}/api"
    nb = hub.call("GET", f"{base}/contents/{NOTEBOOK}").json()["content"]
    session = hub.call("POST", f"{base}/sessions", json={"path": NOTEBOOK, "type": "notebook", "name": "",
                                                         "kernel": {"name": "python3"}})
    assert session.status_code == 201, session.text
    kernel = session.json()["kernel"]["id"]
    ws = websocket.create_connection(f"ws://127.0.0.1:{hub.port}{base}/kernels/{kernel}/channels",
                                     header=[f"Authorization: token {hub.token}"], timeout=120)
    printed: list[str] = []
    try:
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            code = "".join(cell["source"])
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": kernel, "username": name,
                           "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            replied = idle = False
            while not (replied and idle):
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    printed.append(content["text"])
                elif kind == "error":
                    raise AssertionError(f"{name}: cell {cell.get('id')} raised {content['ename']}: "
                                         f"{content['evalue']}\n" + "\n".join(content["traceback"]))
                elif kind == "execute_reply":
                    replied = True
                elif kind == "status" and content["execution_state"] == "idle":
                    idle = True
    finally:
        ws.close()
        hub.call("DELETE", f"{base}/sessions/{session.json()['id']}")
    return "".join(printed)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    need(os.geteuid() == 0, "root (the hub creates the learners' Unix accounts)")
    need(shutil.which("configurable-http-proxy") is not None, "configurable-http-proxy (workshop/install.sh)")
    need((HUB_VENV / "bin" / "jupyterhub").exists(), f"the hub's venv {HUB_VENV} (workshop/install.sh)")
    need(_hub_labkit_is_this_checkout(), f"{HUB_VENV}'s labkit to be this checkout's (workshop/install.sh again)")
    had_group = "labkit-learners" in {g.gr_name for g in grp.getgrall()}
    for name in LEARNERS:
        _remove_account(name)  # left by a run that was killed
    h = Hub(tmp_path)
    try:
        h.wait_up()
        yield h
    finally:
        h.stop()
        for name in LEARNERS:
            _remove_account(name)
        if not had_group:
            subprocess.run(["groupdel", "labkit-learners"], capture_output=True, check=False)


def test_two_learners_run_a_notebook_each_through_the_hub(hub: Hub) -> None:
    first, second = LEARNERS
    t0 = time.monotonic()
    # Someone who names an account the hub did not make is refused: nobody signs in as root.
    refused = sign_in_first_time(hub, "root", "a-long-password")
    assert refused.status_code != 302 and "is taken on this server" in refused.text, refused.text[-500:]
    # First use: the name and password chosen now are the learner's from then on, with a Unix account.
    assert sign_in_first_time(hub, first, "first-password").status_code == 302, hub.tail()
    assert sign_in_first_time(hub, first, "another-password").status_code != 302, "a second password was taken"
    # The instructor adds the other learner through the REST API (the admin page does the same).
    assert hub.call("POST", f"/hub/api/users/{second}").status_code == 201, hub.tail()
    for name in LEARNERS:
        groups = {g.gr_name for g in grp.getgrall() if name in g.gr_mem}
        assert groups == {"labkit-learners"}, f"{name} is in {groups}"
    # An account in the docker group (root on the host) gets no server: the hub refuses to start it.
    risky = "docker" if "docker" in {g.gr_name for g in grp.getgrall()} else "disk"
    subprocess.run(["gpasswd", "--add", second, risky], capture_output=True, check=True)
    try:
        refused = hub.call("POST", f"/hub/api/users/{second}/server")
        assert refused.status_code >= 400 and f"is in {risky}, which is root" in refused.text, refused.text
    finally:
        subprocess.run(["gpasswd", "--delete", second, risky], capture_output=True, check=True)

    spawns = [threading.Thread(target=hub.call, args=("POST", f"/hub/api/users/{n}/server")) for n in LEARNERS]
    for t in spawns:
        t.start()
    for t in spawns:
        t.join()
    for name in LEARNERS:
        wait_for(lambda n=name: hub.call("GET", f"/hub/api/users/{n}").json()["servers"].get("", {}).get("ready"),
                 timeout=90, every=0.3, what=hub.tail)
    started = time.monotonic() - t0

    outputs: dict[str, str | BaseException] = {}

    def run(name: str) -> None:
        try:
            outputs[name] = run_notebook(hub, name)
        except BaseException as e:  # noqa: BLE001 - reported below, per learner
            outputs[name] = e

    threads = [threading.Thread(target=run, args=(n,)) for n in LEARNERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for name in LEARNERS:
        result = outputs.get(name, AssertionError(f"{name}'s notebook did not finish in 120 s"))
        if isinstance(result, BaseException):
            raise result
        assert "runtime: process" in result, f"{name}'s cluster did not run on the process runtime:\n{result}"

        account = pwd.getpwnam(name)
        home = Path(account.pw_dir)
        course = home / "labkit-course"
        assert (home.stat().st_mode & 0o777) == 0o700, f"{home} is readable by other learners"
        assert course.stat().st_uid == account.pw_uid, f"{course} is not {name}'s"
        assert (course / "01-intro" / "2-architecture.ipynb").stat().st_uid == account.pw_uid
        assert len(list(course.rglob("*.ipynb"))) == len(list((ROOT / "course").rglob("*.ipynb")))
    print(f"hub test: servers ready in {started:.1f} s, notebooks done in {time.monotonic() - t0:.1f} s")
