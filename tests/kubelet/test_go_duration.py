"""Durations in the kubelet's messages read as Go prints them (``time.Duration.String``, truncated to ms)."""

import pytest

from labkit.kubelet.kubelet import go_duration


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.0004, "0s"), (0.5129, "512ms"), (1, "1s"), (1.5, "1.5s"), (1.2345, "1.234s"),
    (60, "1m0s"), (123.004, "2m3.004s"), (3600, "1h0m0s"), (3723.5, "1h2m3.5s"),
])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text
