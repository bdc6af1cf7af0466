"""``kubeadm join --control-plane``'s download-certs against the fake client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from labkit.kubeadm.copycerts import CopyCertsError, create_certificate_key, download_certs
from labkit.testing.fake import FakeClient


def test_an_expired_secret_names_kubeadms_command_and_says_labkit_has_none(tmp_path: Path) -> None:
    with pytest.raises(CopyCertsError) as e:
        asyncio.run(download_certs(FakeClient(), create_certificate_key(), tmp_path))
    message = str(e.value)
    assert message.startswith('error downloading certs: error downloading the secret: Secret "kubeadm-certs" was not '
                              'found in the "kube-system" Namespace. This Secret might have expired. Please, run '
                              "`kubeadm init phase upload-certs --upload-certs` on a control plane to generate a "
                              "new one")
    assert "labkit has no such command" in message and "\n" not in message
