"""The nodes of one cluster share one pass over /proc when metrics-server scrapes them together."""

from __future__ import annotations

import os

import pytest

from labkit.kubelet.runtime import process


class FakeRuntime:
    def __init__(self, groups: set[int]) -> None:
        self.groups = groups

    def scanned_groups(self) -> set[int]:
        return self.groups


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[frozenset[int]]:
    """Each pass over /proc, by the groups it looked for."""
    seen: list[frozenset[int]] = []
    real = process.process_group_usage

    def counted(groups: frozenset[int]) -> tuple[dict[int, int], dict[int, int]]:
        seen.append(frozenset(groups))
        return real(groups)

    monkeypatch.setattr(process, "process_group_usage", counted)
    monkeypatch.setattr(process, "_last_scan", None)
    return seen


def test_one_pass_answers_every_node_of_the_process(passes: list[frozenset[int]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    mine = os.getpgrp()
    node_1, node_2 = FakeRuntime({mine}), FakeRuntime({mine + 10**7})  # the second group has no process
    monkeypatch.setattr(process, "_runtimes", [node_1, node_2])
    first = process.shared_group_usage(node_1.groups)
    second = process.shared_group_usage(node_2.groups)
    assert passes == [frozenset({mine, mine + 10**7})]
    assert second is first and first.cpu[mine] > 0 and first.pages[mine] > 0 and mine + 10**7 not in first.cpu


def test_a_group_the_last_pass_missed_or_an_old_pass_scans_again(passes: list[frozenset[int]],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    mine = os.getpgrp()
    monkeypatch.setattr(process, "_runtimes", [])
    process.shared_group_usage({mine})
    process.shared_group_usage({mine, 1})  # a container started since
    monkeypatch.setattr(process, "SHARED_SCAN_SECONDS", 0.0)
    process.shared_group_usage({mine})
    assert passes == [frozenset({mine}), frozenset({mine, 1}), frozenset({mine})]
