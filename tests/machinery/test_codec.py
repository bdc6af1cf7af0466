"""codec.clone: a deep copy of JSON data that is independent of the original and equal to it."""

import datetime as dt

from labkit.codec import clone


def test_clone_is_an_independent_equal_copy() -> None:
    pod = {"metadata": {"name": "p", "labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "ports": [80]}]},
           "n": 1.5, "big": 2**70, "none": None, "ok": True}  # 2**70: beyond orjson, deep-copied instead
    copy = clone(pod)
    assert copy == pod
    copy["spec"]["containers"][0]["ports"].append(443)
    copy["metadata"]["labels"]["x"] = "y"
    assert pod["spec"]["containers"][0]["ports"] == [80] and pod["metadata"]["labels"] == {"a": "b"}


def test_clone_keeps_what_is_not_plain_json() -> None:
    when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert clone({"t": when})["t"] == when  # a datetime stays one, not its RFC 3339 string
