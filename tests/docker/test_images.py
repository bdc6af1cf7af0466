"""labkit's locally built images: name mapping, build once, rebuild on change."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import docker
import pytest

from labkit import images
from labkit.kubelet.runtime.docker import docker_client

from testkit import need


@pytest.mark.parametrize(("image", "tag"), [
    ("nginx", "labkit/nginx:1"), ("nginx:1.25-alpine", "labkit/nginx:1"), ("docker.io/library/nginx", "labkit/nginx:1"),
    ("busybox@sha256:" + "0" * 64, "labkit/busybox:1"), ("library/busybox:1.36", "labkit/busybox:1"),
    ("labkit/hello:1", "labkit/hello:1"), ("localhost:5000/nginx", None), ("redis:7", None),
])
def test_lookup_maps_references_to_definitions(image: str, tag: str | None) -> None:
    definition = images.lookup(image)
    assert (definition.tag if definition else None) == tag


def test_busybox_is_taken_from_the_environment_when_the_host_has_none(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An offline kit's install.sh puts busybox-static in the venv's bin (labkit.kit), for a machine without it."""
    host, venv = tmp_path / "bin" / "busybox", tmp_path / "venv" / "bin" / "busybox"
    monkeypatch.setattr(images.definitions, "BUSYBOX_CANDIDATES", (host, venv))
    assert images.definitions.busybox_path() == host  # neither: the host's path, which the error names
    venv.parent.mkdir(parents=True)
    venv.write_bytes(b"")
    assert images.definitions.busybox_path() == venv
    host.parent.mkdir()
    host.write_bytes(b"")
    assert images.definitions.busybox_path() == host


@pytest.mark.docker
def test_build_once_and_rebuild_when_the_definition_changes() -> None:
    try:
        api = docker_client()
        api.ping()
    except docker.errors.DockerException:
        api = None
    need(api is not None, "a Docker daemon")
    tag = f"labkit/test-{secrets.token_hex(3)}:1"
    first = dataclasses.replace(images.HELLO, tag=tag)
    changed = dataclasses.replace(first, files={**first.files, "www/healthz": ("changed\n", 0o644)})
    lines: list[str] = []
    try:
        built = images.ensure_built(api, first, progress=lines.append)
        assert lines and lines[0].startswith(f"building {tag}")
        lines.clear()
        assert images.ensure_built(api, first, progress=lines.append) == built and lines == []
        rebuilt = images.ensure_built(api, changed, progress=lines.append)
        assert rebuilt != built and images.current_image_id(api, first) is None
        assert api.inspect_image(tag)["Config"]["Labels"][images.definitions.LABEL_CONTENT_HASH]
    finally:
        api.remove_image(tag, force=True)
