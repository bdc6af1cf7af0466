"""The load generator's limits and its summary (the runs against real pods are in
``tests/nodes/test_workloads.py``)."""

from __future__ import annotations

import pytest

from labkit import Cluster
from labkit.proxy.loadgen import Answer, LoadReport, RequestResult, check_bounds, percentile


def result(pod: str, ms: float, status: int = 200, error: str = "") -> RequestResult:
    return RequestResult(Answer("127.0.0.1:40000", status, f"Hello from {pod}", error, ms / 1000, 0.0),
                         "10.0.0.1:8080" if pod else "", pod)


def test_summary_per_pod_with_percentiles() -> None:
    results = [result("web-a", ms) for ms in range(1, 61)] + [result("web-b", 100.0)] * 39
    results.append(result("", 2000.0, status=0, error="timed out"))
    report = LoadReport("default/web", results, 1.5, 120)
    assert report.by_pod() == {"web-a": 60, "web-b": 39, "error: timed out": 1}
    assert (report.p50, report.p99, report.errors) == (0.05, 0.1, 1)  # nearest rank, failed requests left out
    assert report.summary().splitlines() == [
        "100 requests to default/web in 1.50s (stopped at the time limit, 20 not sent); 1 failed; "
        "latency p50 50.0 ms, p99 100.0 ms",
        "  web-a                 60   60.0%",
        "  web-b                 39   39.0%",
        "  error: timed out       1    1.0%",
    ]
    assert percentile([], 99) == 0.0


@pytest.mark.parametrize("requests,duration,concurrency,message", [
    (None, 10.0, 1, "needs both a request count and a time limit"),
    (10, None, 1, "needs both a request count and a time limit"),
    (0, 10.0, 1, "requests must be between 1 and 100000, not 0"),
    (10, 601.0, 1, "duration must be more than 0 and at most 600 seconds, not 601.0"),
    (10, 10.0, 65, "concurrency must be between 1 and 64, not 65"),
])
def test_an_unbounded_run_is_refused(requests: int | None, duration: float | None, concurrency: int,
                                     message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_bounds(requests, duration, concurrency)


def test_sim_says_nothing_answers() -> None:
    with pytest.raises(RuntimeError, match="sim cluster: its pods run no processes, so nothing would answer"):
        Cluster(nodes=1, runtime="sim").generate_load("web", requests=10, duration=5)
