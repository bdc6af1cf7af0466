"""labkit.apimachinery.timeutil: ``metav1.Time`` and ``metav1.MicroTime`` as they go on the wire.

Before the move there were three ``rfc3339``s: the API server's converted to UTC, the controllers'
printed the wall time of whatever zone it was given with a ``Z``, the kubelet's took Unix seconds.
Kube's ``Time.MarshalJSON`` and ``MicroTime.MarshalJSON`` write ``t.UTC()``: the API server's answer.
"""

from __future__ import annotations

import datetime as dt

import pytest

from labkit.apimachinery.timeutil import go_duration, micro_time, now_utc, parse_duration, parse_time, rfc3339, unix

CEST = dt.timezone(dt.timedelta(hours=2))


def test_time_is_utc_to_the_second():
    assert rfc3339(dt.datetime(2026, 1, 1, 12, 0, 0, 999999, tzinfo=dt.timezone.utc)) == "2026-01-01T12:00:00Z"
    # a time taken in another zone is written as the same instant in UTC, not as its wall time
    assert rfc3339(dt.datetime(2026, 7, 1, 14, 30, 5, tzinfo=CEST)) == "2026-07-01T12:30:05Z"


def test_micro_time_keeps_six_digits_in_utc():
    assert micro_time(dt.datetime(2026, 7, 1, 14, 30, 5, 42, tzinfo=CEST)) == "2026-07-01T12:30:05.000042Z"
    assert micro_time(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)) == "2026-01-01T00:00:00.000000Z"
    before = now_utc()
    assert before <= parse_time(micro_time()) <= now_utc()  # no argument: now


def test_unix_seconds_as_a_runtime_reports_them():
    assert rfc3339(unix(0)) == "1970-01-01T00:00:00Z"
    assert rfc3339(unix(1767268800.75)) == "2026-01-01T12:00:00Z"


def test_parse_reads_both_forms_as_aware_utc_times():
    assert parse_time("2026-01-01T12:00:00Z") == dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone.utc)
    assert parse_time("2026-01-01T12:00:00.000042Z") == dt.datetime(2026, 1, 1, 12, 0, 0, 42, tzinfo=dt.timezone.utc)
    assert parse_time("2026-07-01T14:30:05+02:00") == dt.datetime(2026, 7, 1, 12, 30, 5, tzinfo=dt.timezone.utc)
    assert parse_time("") is None and parse_time(None) is None
    t = now_utc()
    assert parse_time(rfc3339(t)) == t.replace(microsecond=0)
    assert parse_time(micro_time(t)) == t


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (7.5e-7, "750ns"), (1.5e-6, "1.5µs"), (0.0004, "400µs"), (0.512, "512ms"), (0.5, "500ms"),
    (1, "1s"), (1.5, "1.5s"), (1.234, "1.234s"), (14.998, "14.998s"), (60, "1m0s"), (60.5, "1m0.5s"),
    (90, "1m30s"), (123.004, "2m3.004s"), (900, "15m0s"), (3600, "1h0m0s"), (3723.5, "1h2m3.5s"), (-1.5, "-1.5s"),
])
def test_go_duration_prints_as_time_duration_string(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text
    assert parse_duration(text.lstrip("-")) == pytest.approx(abs(seconds))
