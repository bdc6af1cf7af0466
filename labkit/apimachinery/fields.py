"""Field selectors: ``?fieldSelector=``, ``kubectl get --field-selector``, an informer's
``spec.nodeName=<node>``.

Mirrors ``k8s.io/apimachinery/pkg/fields`` (``ParseSelector``, ``EscapeValue`` and the unescaping of
values, ``Selector.Matches`` over a resource's selectable fields, the canonical ``String``). Errors
read like kube's and are the same :class:`~labkit.apimachinery.labels.SelectorError` a bad label
selector raises, which the API server answers with 400 BadRequest.

Left out: ``Transform`` and ``RequiresExactMatch``, and ``OneTermEqualSelector`` and the other
constructors (labkit builds field selectors from strings). Which fields a resource lets you select on
is the API server's business (``Strategy.field_labels``), not this module's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from labkit.apimachinery.labels import SelectorError


def escape_field_value(value: str) -> str:
    """``fields.EscapeValue``: backslash-escape ``\\``, ``,`` and ``=``."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(value: str) -> str:
    out, escaped = [], False
    for c in value:
        if escaped:
            if c not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in ",=":
            # Go formats the rune with %v, i.e. as its code point
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped (the escapes stay in the terms)."""
    terms, start, escaped = [], 0, False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    return [*terms, text[start:]] if text else []


@dataclasses.dataclass(frozen=True, slots=True)
class FieldSelector:
    """ANDed ``(field, op, value)`` terms; op is ``=`` or ``!=``. A missing field reads as ``""``."""

    requirements: tuple[tuple[str, str, str], ...] = ()

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all((fields.get(f, "") == v) == (op == "=") for f, op, v in self.requirements)

    def empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(f"{f}{op}{escape_field_value(v)}" for f, op, v in self.requirements)


def parse_field_selector(text: str) -> FieldSelector:
    """``fields.ParseSelector``: ``a=b,c!=d`` (``==`` means ``=``); values escape ``\\ , =`` with ``\\``."""
    requirements = []
    for term in sorted(_split_terms(text)):
        if not term:
            continue
        # the field name has no escaping: the first operator found splits the term
        match = re.search(r"!=|==|=", term)
        if match is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        op = "!=" if match.group() == "!=" else "="
        requirements.append((term[:match.start()], op, _unescape_field_value(term[match.end():])))
    return FieldSelector(tuple(requirements))
