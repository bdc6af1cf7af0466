"""Several accounts on one Docker daemon: a clean-up removes only its own account's leftovers (root's,
everyone's), since another account's running cluster may merely look dead (a /proc with hidepid)."""

from __future__ import annotations

import os
import secrets
import socket

import docker
import pytest

from labkit import images
from labkit.kubelet.runtime import LABEL_CLUSTER
from labkit.kubelet.runtime.docker import LABEL_HOST, LABEL_PID, LABEL_PID_START, LABEL_UID, cleanup_leftovers

from test_docker_runtime import api  # noqa: F401 - the fixture

pytestmark = [pytest.mark.docker, pytest.mark.unprivileged]


def leftover(api: docker.APIClient, uid: int) -> str:  # noqa: F811
    """A container whose creating process (of account ``uid``) is gone."""
    images.ensure_built(api, images.BUSYBOX)
    labels = {LABEL_CLUSTER: f"test-{secrets.token_hex(3)}", LABEL_PID: "999999999", LABEL_PID_START: "1",
              LABEL_HOST: socket.gethostname(), LABEL_UID: str(uid)}
    return api.create_container(images.BUSYBOX.tag, ["true"], labels=labels)["Id"]


def test_a_clean_up_removes_its_own_accounts_leftovers_only(api: docker.APIClient) -> None:  # noqa: F811
    mine, theirs = leftover(api, os.getuid()), leftover(api, os.getuid() + 1)
    try:
        cleanup_leftovers(api)
        left = {c["Id"] for c in api.containers(all=True, filters={"id": [mine, theirs]})}
        assert left == (set() if os.getuid() == 0 else {theirs})
    finally:
        for cid in (mine, theirs):
            try:
                api.remove_container(cid, force=True)
            except docker.errors.NotFound:
                pass
