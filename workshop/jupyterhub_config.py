"""JupyterHub for a room of learners on one Linux server, each in a local Unix account of their own.

`jupyterhub -f workshop/jupyterhub_config.py`, as root (workshop/install.sh installs it and says how to
start it). JupyterHub's own parts: configurable-http-proxy in front (the one public port), the hub and
the learners' servers on 127.0.0.1 behind it.

Settings from the environment (the systemd unit install.sh writes sets none of them):
  LABKIT_HUB_BIND_URL   the public address (default http://:8000, every interface; put TLS in front,
                        or set LABKIT_HUB_SSL_CERT and LABKIT_HUB_SSL_KEY, as learners type passwords)
  LABKIT_HUB_STATE      the hub's database, cookie secret, password hashes (default /var/lib/labkit-hub)
  LABKIT_HUB_ADMINS     comma-separated instructors' names (admins in the hub, not root on the server)
  LABKIT_HUB_MEM_LIMIT  each learner's memory (default 2G): enforced only with LABKIT_HUB_SPAWNER=systemd
  LABKIT_HUB_SPAWNER    local (default) or systemd (jupyterhub-systemdspawner; needs systemd >= 245 as PID 1)
  LABKIT_COURSE         the course folder copied to each learner (default: course/ beside workshop/)

What is enforced and what is only said (README.md beside this file):
  enforced   a learner is a Unix account of its own (home 0700), in the group labkit-learners and in no
             group that is root in disguise (docker, sudo...): the hub refuses to start their server
             otherwise; a name that is already a Unix account the hub did not make (root, ubuntu...)
             cannot sign in; LABKIT_RUNTIME=process in every learner's server; the course copied to
             ~/labkit-course once, owned by the learner.
  only said  the memory limit under the default spawner: LocalProcessSpawner passes it to the server as
             MEM_LIMIT and nothing enforces it; SystemdSpawner enforces it (systemd's MemoryMax).
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

from firstuseauthenticator import FirstUseAuthenticator
from jupyterhub.auth import LocalAuthenticator
from tornado import web

c = get_config()  # noqa: F821 - JupyterHub runs this file with get_config defined

LEARNERS = "labkit-learners"
# Groups that make an account root on this machine, or close: a learner's account is in none of them.
# The docker group is the one that matters here: `docker run -v /:/host` is root on the host.
ROOT_EQUIVALENT = ("docker", "sudo", "wheel", "adm", "lxd", "libvirt", "disk", "root")
STATE = Path(os.environ.get("LABKIT_HUB_STATE", "/var/lib/labkit-hub"))
COURSE = Path(os.environ.get("LABKIT_COURSE", Path(__file__).resolve().parent.parent / "course"))


def _groups(name: str) -> set[str]:
    gid = pwd.getpwnam(name).pw_gid
    return {g.gr_name for g in grp.getgrall() if name in g.gr_mem or g.gr_gid == gid}


class WorkshopAuthenticator(LocalAuthenticator, FirstUseAuthenticator):
    """First use: a learner picks a name and a password at the first sign-in, and that pair holds from
    then on (FirstUseAuthenticator keeps bcrypt hashes in a dbm file). LocalAuthenticator adds the Unix
    account. Why first use: NativeAuthenticator's sign-up leaves each new learner waiting for an admin's
    approval unless open_signup is set, and needs its own templates; like first use it makes no Unix
    account by itself. First use asks nothing of the instructor on the day: one login form, no sign-up
    page. A Unix account that exists but was not made by the hub (not in labkit-learners) is refused, so
    nobody signs in as root or as the instructor's account."""

    def _foreign_account(self, name: str) -> bool:
        try:
            return LEARNERS not in _groups(name)
        except KeyError:
            return False  # no such account: add_user makes it

    async def authenticate(self, handler, data):
        name = self.normalize_username(data["username"])
        if self._foreign_account(name):
            handler.custom_login_error = f"The name {name!r} is taken on this server: choose another."
            return None
        return await super().authenticate(handler, data)

    async def add_user(self, user):
        if self._foreign_account(user.name):
            raise ValueError(f"{user.name} is a Unix account the hub did not create: not a learner's")
        await super().add_user(user)


if os.geteuid() == 0:
    subprocess.run(["groupadd", "--force", "--system", LEARNERS], check=True)
    STATE.mkdir(mode=0o700, parents=True, exist_ok=True)

c.JupyterHub.authenticator_class = WorkshopAuthenticator
c.LocalAuthenticator.create_system_users = True
# useradd, not Debian's adduser: one command on Debian and Ubuntu alike, with no extra groups (adduser's
# EXTRA_GROUPS could add some), and homes that other learners cannot read.
c.LocalAuthenticator.add_user_cmd = ["useradd", "--create-home", "--shell", "/bin/bash", "--groups", LEARNERS,
                                     "--key", "HOME_MODE=0700"]
c.Authenticator.username_pattern = r"^[a-z][a-z0-9-]{1,30}$"  # what useradd takes, and nothing else
c.Authenticator.admin_users = {n.strip() for n in os.environ.get("LABKIT_HUB_ADMINS", "").split(",") if n.strip()}
c.FirstUseAuthenticator.dbm_path = str(STATE / "passwords.dbm")

c.JupyterHub.bind_url = os.environ.get("LABKIT_HUB_BIND_URL", "http://:8000")
if os.environ.get("LABKIT_HUB_SSL_CERT"):
    c.JupyterHub.ssl_cert = os.environ["LABKIT_HUB_SSL_CERT"]
    c.JupyterHub.ssl_key = os.environ["LABKIT_HUB_SSL_KEY"]
c.JupyterHub.hub_bind_url = "http://127.0.0.1:8081"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")

c.Spawner.ip = "127.0.0.1"
c.Spawner.default_url = "/lab/tree/labkit-course"
c.Spawner.mem_limit = os.environ.get("LABKIT_HUB_MEM_LIMIT", "2G")
# A room signs in at once on a few cores: a server may take longer than the 60 s default to answer.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 120
ENFORCES_MEMORY = os.environ.get("LABKIT_HUB_SPAWNER", "local") == "systemd"
if ENFORCES_MEMORY:
    # One systemd unit per learner, as their account: MemoryMax= enforces mem_limit on the server and
    # every process it starts (the process runtime's pods too), and the CPU is shared per learner.
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.isolate_tmp = True
    c.SystemdSpawner.disable_user_sudo = True
else:
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"


def prepare_learner(spawner) -> None:
    """Before each start of a learner's server: refuse an account in a root-equivalent group, set the
    runtime, and copy the course into ~/labkit-course if it is not there (never over their work)."""
    account = pwd.getpwnam(spawner.user.name)
    risky = sorted(_groups(account.pw_name) & set(ROOT_EQUIVALENT))
    if risky:
        raise web.HTTPError(403, f"{account.pw_name} is in {', '.join(risky)}, which is root on this server: "
                           f"remove them (gpasswd -d {account.pw_name} {risky[0]}) before they start a server")
    if not ENFORCES_MEMORY and spawner.mem_limit:
        spawner.log.warning("%s's memory limit (%d bytes) is not enforced: LocalProcessSpawner only passes it on as "
                            "MEM_LIMIT; LABKIT_HUB_SPAWNER=systemd enforces it", account.pw_name, spawner.mem_limit)
    # The process runtime, always: the host's Docker daemon is not theirs (no docker group), and labkit's
    # docker runtime on a learner's rootless Docker is untried (its bridge lives in rootlesskit's
    # namespace, not on this machine's network: the top README's table). labkit prints which and why.
    spawner.environment = {**spawner.environment, "LABKIT_RUNTIME": "process"}
    home = Path(account.pw_dir)
    dest = home / "labkit-course"
    if dest.exists() or dest.is_symlink():
        return
    # Read as root (the course may sit where learners cannot read), written by the learner's own tar: root
    # never writes in a home, where the learner could swap a folder for a symlink under it.
    pack = subprocess.Popen(["tar", "-C", str(COURSE), "--exclude=.ipynb_checkpoints", "--exclude=__pycache__",
                             "-cf", "-", "."], stdout=subprocess.PIPE)
    subprocess.run(["sh", "-c", 'mkdir "$1" && tar -xf - -C "$1"', "sh", str(dest)], stdin=pack.stdout, check=True,
                   user=account.pw_uid, group=account.pw_gid, extra_groups=[], cwd=home,
                   env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert pack.stdout is not None
    pack.stdout.close()
    if pack.wait():
        raise RuntimeError(f"could not read the course {COURSE}: tar exited {pack.returncode}")
    spawner.log.info("copied the course %s to %s", COURSE, dest)


c.Spawner.pre_spawn_hook = prepare_learner
