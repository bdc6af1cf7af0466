"""Quantities parse and print as apimachinery's ``resource.Quantity`` does."""

from __future__ import annotations

import pytest

from labkit.apimachinery.resource import (
    FORMAT_MESSAGE, SUFFIX_MESSAGE, QuantityError, canonical, default_resource_list, parse_quantity, to_bytes,
    to_millicores,
)


@pytest.mark.parametrize(("text", "want"), [
    ("500m", "500m"), ("0.5", "500m"), (".5", "500m"), ("1000m", "1"), ("1", "1"), ("+1", "1"), ("-1", "-1"),
    ("0", "0"), ("-0", "0"), ("1.0", "1"), ("1500", "1500"), ("2000", "2k"), ("0.1", "100m"), ("1.1", "1100m"),
    ("100u", "100u"), ("0.1m", "100u"), ("0.0000000001", "1n"),  # finer than nano rounds up
    ("1G", "1G"), ("1000M", "1G"), ("512Mi", "512Mi"), ("1024Mi", "1Gi"), ("2048Ki", "2Mi"),
    ("1.5Gi", "1536Mi"), ("0.5Ki", "512"), ("1536", "1536"), ("1Ki", "1Ki"),
    ("1e3", "1e3"), ("1E3", "1e3"), ("1500e-3", "1500e-3"), ("12e6", "12e6"), ("1e0", "1"),
    (1, "1"), (0.5, "500m"), (2.0, "2"),  # YAML numbers arrive as JSON numbers
])
def test_canonical_form(text, want):
    assert canonical(text) == want


@pytest.mark.parametrize(("text", "message"), [
    ("", FORMAT_MESSAGE), (".", FORMAT_MESSAGE), ("1.2.3", FORMAT_MESSAGE), ("abc", FORMAT_MESSAGE),
    ("1kb", FORMAT_MESSAGE), ("1 Gi", FORMAT_MESSAGE), ("1Ki2", SUFFIX_MESSAGE), ("1e", SUFFIX_MESSAGE),
    (True, FORMAT_MESSAGE),
])
def test_malformed_quantities(text, message):
    with pytest.raises(QuantityError) as err:
        parse_quantity(text)
    assert str(err.value) == message


def test_units():
    assert to_millicores("1.5") == 1500
    assert to_millicores("250m") == 250
    assert to_millicores("0.0001") == 1  # MilliValue rounds up
    assert to_bytes("1Gi") == 1024**3
    assert to_bytes("1G") == 10**9
    assert to_bytes("1.5") == 2  # Value rounds up
    assert to_bytes("-1.5") == -2  # ... away from zero


def test_ordering_compares_amounts_not_text():
    assert parse_quantity("1Gi") > parse_quantity("1G")
    assert parse_quantity("1000m") == parse_quantity("1")
    assert parse_quantity("1Gi") + parse_quantity("1Gi") == parse_quantity("2Gi")


def test_resource_list_defaulting_rounds_to_milli():
    resources = {"cpu": "100u", "memory": "1024Mi", "bad": "1.2.3", "count": 2}
    default_resource_list(resources)
    assert resources == {"cpu": "1m", "memory": "1Gi", "bad": "1.2.3", "count": "2"}
