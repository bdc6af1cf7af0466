"""Times as the Kubernetes API writes them: ``metav1.Time`` and ``metav1.MicroTime``.

Mirrors ``k8s.io/apimachinery/pkg/apis/meta/v1`` ``time.go`` and ``micro_time.go``. On the wire a
``Time`` (``creationTimestamp``, a condition's ``lastTransitionTime`` ...) is RFC 3339 in UTC to the
second, ``2026-01-01T12:00:00Z``; a ``MicroTime`` (a Lease's ``renewTime``, an Event's
``eventTime``) keeps six fraction digits, ``2026-01-01T12:00:00.123456Z``. Both are written in UTC
whatever zone the time was taken in (Go's ``t.UTC().Format``). Labkit keeps times as aware
``datetime`` objects and converts only at the edges: :func:`rfc3339` and :func:`micro_time` to
write, :func:`parse_time` to read. A duration (``metav1.Duration``, a kubeadm timeout) is Go's
``time.Duration`` text, ``1m30s``: :func:`parse_duration` reads it, :func:`go_duration` writes it.

Left out: the zero time (Go writes ``null``; labkit leaves the field out or writes None itself),
nanoseconds (Python's ``datetime`` stops at microseconds), and ``Time``'s protobuf form (the
Timestamp message, in ``labkit/apiserver/protobuf.py``).
"""

from __future__ import annotations

import datetime as dt
import re

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def now_utc() -> dt.datetime:
    """The current time, aware and in UTC (``metav1.Now``)."""
    return dt.datetime.now(dt.UTC)


def unix(seconds: float) -> dt.datetime:
    """The time ``seconds`` after the Unix epoch (``metav1.Unix``): what a runtime reports as a number."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def rfc3339(t: dt.datetime) -> str:
    """``metav1.Time``'s JSON form: RFC 3339 in UTC, to the second (``2026-01-01T12:00:00Z``)."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(t: dt.datetime | None = None) -> str:
    """``metav1.MicroTime``'s JSON form: RFC 3339 in UTC with six fraction digits
    (``2026-01-01T12:00:00.000000Z``), of ``t`` or of now."""
    return (t or now_utc()).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> dt.datetime | None:
    """A ``Time`` or ``MicroTime`` string as an aware ``datetime``; None for a missing or empty one."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_duration(text: str) -> float:
    """A Go duration (``15s``, ``1m0.5s``) in seconds; 0 for anything else."""
    parts = _DURATION.findall(text or "")
    return sum(float(n) * _UNITS[unit] for n, unit in parts) if parts else 0.0


def go_duration(seconds: float) -> str:
    """``time.Duration.String()``: ``0s``, ``750ns``, ``1.5µs``, ``512ms``, ``1.5s``, ``2m3.004s``,
    ``1h0m0s`` (to the nanosecond; a caller that truncates, as the kubelet's messages do to the
    millisecond, truncates first)."""
    ns = round(seconds * 1e9)
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns" if ns else "0s"
    if ns < 1_000_000:
        return f"{sign}{_decimal(ns, 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_decimal(ns, 1_000_000)}ms"
    minutes, rest = divmod(ns, 60_000_000_000)
    hours, minutes = divmod(minutes, 60)
    text = f"{_decimal(rest, 1_000_000_000)}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return f"{sign}{hours}h{text}" if hours else sign + text


def _decimal(value: int, unit: int) -> str:
    """``value / unit`` with no trailing zeros (``unit`` a power of ten)."""
    whole, rest = divmod(value, unit)
    digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)
