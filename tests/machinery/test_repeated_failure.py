"""A loop that keeps failing the same way warns once (a notebook cell is not a log file)."""

import logging

from labkit.component import RepeatedFailure


def test_the_same_failure_warns_once_until_it_changes_or_recovers(caplog):
    log = logging.getLogger("labkit.test")
    failures = RepeatedFailure(log, "node status update failed")
    with caplog.at_level(logging.DEBUG, logger="labkit.test"):
        for _ in range(5):
            failures.failed(RuntimeError("404 NotFound"))
        failures.failed(RuntimeError("connection refused"))
        failures.succeeded()
        failures.failed(RuntimeError("404 NotFound"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["node status update failed: 404 NotFound (retrying; repeats are not logged)",
                        "node status update failed: connection refused (retrying; repeats are not logged)",
                        "node status update failed: 404 NotFound (retrying; repeats are not logged)"]
    assert sum(r.levelno == logging.DEBUG for r in caplog.records) == 4
