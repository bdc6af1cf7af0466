"""Resource quantities: ``"500m"``, ``"512Mi"``, ``"1G"``, ``"1e3"``, ``"2"``.

Mirrors ``k8s.io/apimachinery/pkg/api/resource`` (``Quantity``, ``ParseQuantity``,
``CanonicalizeBytes``, ``Value``, ``MilliValue``). A quantity is an exact number plus the format its
suffix was written in; printing it gives the canonical form kube-apiserver returns on the wire:

- the format is kept: decimal SI (``m``, ``k``, ``M`` ...), binary SI (``Ki``, ``Mi`` ...) or a
  decimal exponent (``e3``);
- no precision is lost and no fraction is printed: ``0.5`` becomes ``500m``, ``1.5Gi`` ``1536Mi``;
- the suffix is as large as possible: ``1000m`` becomes ``1``, ``2048Ki`` ``2Mi``;
- a binary quantity below 1Ki, or one with a fractional byte, is printed in decimal SI.

Parsing rounds up (away from zero) to nano units, as Kubernetes does. :func:`default_resource_list`
is ``SetDefaults_ResourceList`` (``pkg/apis/core/v1/defaults.go``), which the API server applies to
requests and limits; the scheduler reads amounts with :func:`parse_quantity`, the kubelet with
:func:`to_millicores` and :func:`to_bytes`. Left out: the int64 fast path and its overflow cases
(Python integers are exact), ``Quantity`` arithmetic beyond comparison and addition, and the
protobuf form.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from fractions import Fraction

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

#: the message kube-apiserver answers for a malformed quantity (``resource.ErrFormatWrong``)
FORMAT_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
SUFFIX_MESSAGE = "unable to parse quantity's suffix"

_SYNTAX = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)")
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}  # powers of 1024
_DECIMAL_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_POWER = {p: s for s, p in _BINARY_SUFFIXES.items()}
_NANO = Fraction(1, 10**9)


class QuantityError(ValueError):
    """A string that is not a quantity; ``str()`` is kube-apiserver's message."""


@functools.total_ordering
@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Quantity:
    """An exact amount and the format it prints in (``DecimalSI``, ``BinarySI``, ``DecimalExponent``)."""

    amount: Fraction
    format: str = DECIMAL_SI

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.amount == other.amount

    def __lt__(self, other: Quantity) -> bool:
        return self.amount < other.amount

    def __hash__(self) -> int:
        return hash(self.amount)

    def __add__(self, other: Quantity) -> Quantity:
        """The sum, in this quantity's format, or in ``other``'s if this one is zero (as ``Quantity.Add``)."""
        return Quantity(self.amount + other.amount, self.format if self.amount else other.format)

    def __str__(self) -> str:
        return format_quantity(self)

    def is_zero(self) -> bool:
        return self.amount == 0

    def value(self) -> int:
        """The amount rounded up (away from zero) to an integer: bytes, pods, cores."""
        return _ceil_away(self.amount)

    def milli_value(self) -> int:
        """The amount in thousandths, rounded up: millicores."""
        return _ceil_away(self.amount * 1000)

    def round_up(self, exponent: int) -> Quantity:
        """Round up (away from zero) to a multiple of ``10**exponent`` (``Quantity.RoundUp``)."""
        unit = Fraction(10) ** exponent
        return Quantity(_ceil_away(self.amount / unit) * unit, self.format)


def _ceil_away(x: Fraction) -> int:
    return math.ceil(x) if x >= 0 else -math.ceil(-x)


def parse_quantity(text: str | int | float) -> Quantity:
    """Parse a quantity as written in JSON or YAML (a string, or a bare number)."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise QuantityError(FORMAT_MESSAGE)
    return _parse(text)


@functools.lru_cache(maxsize=4096, typed=True)  # quantities are immutable, and a cluster repeats a few
def _parse(text: str | int | float) -> Quantity:
    s = str(text).strip() if not isinstance(text, float) else repr(text)
    m = _SYNTAX.fullmatch(s)
    if not s or not m or not (m.group(2) or m.group(3)):
        raise QuantityError(FORMAT_MESSAGE)
    sign, whole, frac, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    number = Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac))
    if suffix in _DECIMAL_SUFFIXES:
        fmt, scale = DECIMAL_SI, Fraction(10) ** _DECIMAL_SUFFIXES[suffix]
    elif suffix in _BINARY_SUFFIXES:
        fmt, scale = BINARY_SI, Fraction(1024) ** _BINARY_SUFFIXES[suffix]
    elif re.fullmatch(r"[eE][-+]?[0-9]+", suffix):
        fmt, scale = DECIMAL_EXPONENT, Fraction(10) ** int(suffix[1:])
    else:
        raise QuantityError(SUFFIX_MESSAGE)
    amount = number * scale
    if amount.denominator != 1 and (amount / _NANO).denominator != 1:
        amount = _ceil_away(amount / _NANO) * _NANO  # finer than nano: round up
    return Quantity(-amount if sign == "-" else amount, fmt)


def format_quantity(q: Quantity) -> str:
    """The canonical string (``Quantity.String``)."""
    if q.amount == 0:
        return "0"
    fmt = q.format
    if fmt == BINARY_SI and (abs(q.amount) < 1024 or q.amount.denominator != 1):
        fmt = DECIMAL_SI  # avoids rounding, and a binary suffix on a fraction of a byte
    if fmt == BINARY_SI:
        mantissa, power = q.amount.numerator, 0
        while mantissa % 1024 == 0 and power < max(_BINARY_BY_POWER):
            mantissa, power = mantissa // 1024, power + 1
        return f"{mantissa}{_BINARY_BY_POWER.get(power, '')}"
    mantissa, exponent = _decimal_parts(q.amount)
    if fmt == DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    if exponent > max(_DECIMAL_BY_EXPONENT):
        mantissa, exponent = mantissa * 10 ** (exponent - 18), 18
    return f"{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"


def _decimal_parts(amount: Fraction) -> tuple[int, int]:
    """``amount == mantissa * 10**exponent``, mantissa an integer, exponent the largest multiple of 3."""
    exponent = 0
    while amount.denominator != 1:
        amount, exponent = amount * 10, exponent - 1
    mantissa = amount.numerator
    while mantissa % 10 == 0:
        mantissa, exponent = mantissa // 10, exponent + 1
    shift = exponent % 3  # Python's modulo floors, so the exponent only ever goes down
    return mantissa * 10**shift, exponent - shift


def canonical(text: str | int | float) -> str:
    """Parse and print back: ``canonical("0.5") == "500m"``."""
    return format_quantity(parse_quantity(text))


def to_millicores(text: str | int | float) -> int:
    """CPU in millicores: ``to_millicores("1.5") == 1500``."""
    return parse_quantity(text).milli_value()


def to_bytes(text: str | int | float) -> int:
    """Memory or storage in bytes: ``to_bytes("1Gi") == 1073741824``."""
    return parse_quantity(text).value()


def default_resource_list(resources: object) -> None:
    """``SetDefaults_ResourceList``: round every value up to milli units, in canonical form.

    Values that do not parse are left alone for validation to report."""
    if not isinstance(resources, dict):
        return
    for name, value in resources.items():
        try:
            resources[name] = format_quantity(parse_quantity(value).round_up(-3))
        except QuantityError:
            pass
