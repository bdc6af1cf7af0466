"""Label selectors: ``?labelSelector=``, ``kubectl get -l``, a workload's ``spec.selector`` and a
Service's ``spec.selector``.

Mirrors ``k8s.io/apimachinery/pkg/labels`` (the lexer and parser of ``selector.go``, ``NewRequirement``
and its validation, ``Requirement.Matches``, the canonical ``String``, ``SelectorFromValidatedSet``)
and ``metav1.LabelSelectorAsSelector`` (``pkg/apis/meta/v1/helpers.go``): the API server filters
lists and watches with them, the controllers find a workload's pods, the scheduler a pod (anti-)
affinity term's or a topology spread constraint's pods. Error messages read like kube's, so a bad
``kubectl get -l`` gets the same complaint.

Left out: ``RequiresExactMatch`` and the other introspection helpers used for indexing, and the
map-backed fast path of ``ValidatedSetSelector`` (a set selector here is ANDed ``=`` requirements).
Field selectors are :mod:`labkit.apimachinery.fields`; node selectors (``NodeSelectorRequirement``,
which also has ``Gt``/``Lt`` and ``matchFields``) are the scheduler's ``nodeaffinity`` helpers.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from labkit.apimachinery.validation import invalid, label_value_errors, qualified_name_errors


class SelectorError(ValueError):
    """A label or field selector that does not parse or validate; the API server answers 400 BadRequest."""


# --- requirements (labels.Requirement) -------------------------------------------------------------------

# selection.Operator values
DOES_NOT_EXIST, EQUALS, DOUBLE_EQUALS, IN, NOT_EQUALS, NOT_IN, EXISTS, GREATER_THAN, LESS_THAN = (
    "!", "=", "==", "in", "!=", "notin", "exists", "gt", "lt")
_BINARY = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_SPELLING = {EQUALS: "=", DOUBLE_EQUALS: "==", NOT_EQUALS: "!=", IN: " in ", NOT_IN: " notin ",
             GREATER_THAN: ">", LESS_THAN: "<"}


def _is_int64(value: str) -> bool:
    return re.fullmatch(r"[+-]?[0-9]+", value) is not None and -(2**63) <= int(value) < 2**63


@dataclasses.dataclass(frozen=True, slots=True)
class Requirement:
    """One ANDed term: ``key`` related to ``values`` by ``operator`` (a ``selection.Operator`` value)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return present and value in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or value not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        # Gt / Lt: the label must hold an integer (anything else simply does not match)
        if value is None or not _is_int64(value) or len(self.values) != 1:
            return False
        limit = int(self.values[0])
        return int(value) > limit if self.operator == GREATER_THAN else int(value) < limit

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return f"!{self.key}"
        values = ",".join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            values = f"({values})"
        return f"{self.key}{_SPELLING[self.operator]}{values}"


def _bad_values(values: tuple[str, ...]) -> Any:
    return list(values) or None  # Go prints a nil slice as null


def new_requirement(key: str, operator: str, values: Iterable[str]) -> Requirement:
    """``labels.NewRequirement``: build a requirement, raising :class:`SelectorError` if it is invalid."""
    values = tuple(values)
    key_errs = qualified_name_errors(key)
    errs = [invalid("key", key, "; ".join(key_errs))] if key_errs else []
    if operator in (IN, NOT_IN) and not values:
        errs.append(invalid("values", _bad_values(values), "for 'in', 'notin' operators, values set can't be empty"))
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        errs.append(invalid("values", _bad_values(values), "exact-match compatibility requires one single value"))
    elif operator in (EXISTS, DOES_NOT_EXIST) and values:
        errs.append(invalid("values", _bad_values(values), "values set must be empty for exists and does not exist"))
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errs.append(invalid("values", _bad_values(values),
                                "for 'Gt', 'Lt' operators, exactly one value is required"))
        errs += [invalid(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer")
                 for i, v in enumerate(values) if not _is_int64(v)]
    for i, value in enumerate(values):
        if value_errs := label_value_errors(value):
            errs.append(invalid(f"values[{i}][{key}]", value, "; ".join(value_errs)))
    if errs:
        # utilerrors.NewAggregate: one error alone, several de-duplicated inside brackets
        messages = list(dict.fromkeys(str(e) for e in errs))
        raise SelectorError(messages[0] if len(messages) == 1 else f"[{', '.join(messages)}]")
    return Requirement(key, operator, values)


# --- selectors ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class LabelSelector:
    """ANDed requirements, sorted by key. ``nothing`` is ``labels.Nothing()``: it matches no object."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return not self.nothing and all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        """True for the selector that matches everything (kube's ``Empty()``)."""
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _selector(requirements: Iterable[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


# the lexer: special symbols, keywords, identifiers (labels/selector.go Lexer)
_SPECIAL = "=!(),<>"
_WHITESPACE = " \t\r\n"
_END, _IDENT = "end of string", "identifier"
_KEYWORDS = {"in": IN, "notin": NOT_IN}


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens as ``(kind, literal)``; kind is the symbol itself, ``in``/``notin``, or :data:`_IDENT`."""
    tokens, i = [], 0
    while True:
        while i < len(text) and text[i] in _WHITESPACE:
            i += 1
        if i == len(text):
            tokens.append((_END, ""))
            return tokens
        if text[i] in _SPECIAL:
            symbol = text[i:i + 2] if text[i:i + 2] in ("!=", "==") else text[i]
            tokens.append((symbol, symbol))
            i += len(symbol)
            continue
        start = i
        while i < len(text) and text[i] not in _SPECIAL and text[i] not in _WHITESPACE:
            i += 1
        word = text[start:i]
        tokens.append((word if word in _KEYWORDS else _IDENT, word))


class _Parser:
    """Recursive descent over the tokens. ``in``/``notin`` are keywords only where an operator is
    expected; elsewhere (keys, values) they are plain identifiers, so ``in in (in)`` parses."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, *, operator: bool = False) -> tuple[str, str]:
        kind, lit = self.tokens[self.pos]
        return (_IDENT if kind in _KEYWORDS and not operator else kind), lit

    def take(self, *, operator: bool = False) -> tuple[str, str]:
        token = self.peek(operator=operator)
        self.pos += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, lit = self.peek()
            if kind == _END:
                return requirements
            if kind not in (_IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except SelectorError as e:
                raise SelectorError(f"unable to parse requirement: {e}") from None
            kind, lit = self.take()
            if kind == _END:
                return requirements
            if kind != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self.peek()
            if kind not in (_IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        kind, key = self.take()
        negated = kind == "!"
        if negated:
            kind, key = self.take()
        if kind != _IDENT:
            raise SelectorError(f"found '{key}', expected: identifier")
        if errs := qualified_name_errors(key):
            raise SelectorError(str(invalid("<nil>", key, "; ".join(errs))))  # Go prints the nil path
        if negated or self.peek()[0] in (_END, ","):
            return new_requirement(key, DOES_NOT_EXIST if negated else EXISTS, ())
        kind, lit = self.take(operator=True)
        operator = _KEYWORDS.get(kind) or {"=": EQUALS, "==": DOUBLE_EQUALS, "!=": NOT_EQUALS,
                                           ">": GREATER_THAN, "<": LESS_THAN}.get(kind)
        if operator is None:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY)}")
        values = self.value_set() if operator in (IN, NOT_IN) else self.exact_value()
        return new_requirement(key, operator, sorted(values))

    def value_set(self) -> set[str]:
        """``( v1, v2, ... )``; empty entries stand for the empty value, as in ``x in (a,,b)``."""
        kind, lit = self.take()
        if kind != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        kind, lit = self.peek()
        if kind == ")":
            self.take()
            return {""}
        if kind not in (_IDENT, ","):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifiers()
        self.take()  # the ")" that ended the list
        return values

    def identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            kind, lit = self.take()
            if kind == _IDENT:
                values.add(lit)
                after, after_lit = self.peek()
                if after == ")":
                    return values
                if after != ",":
                    raise SelectorError(f"found '{after_lit}', expected: ',' or ')'")
            elif kind == ",":
                if not values or self.peek()[0] in (")", ","):  # "(,", ",)" and ",," hold an empty value
                    values.add("")
                if self.peek()[0] == ")":
                    return values
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in (_END, ","):
            return {""}  # "key=" selects the empty value
        kind, lit = self.take()
        if kind != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        return {lit}


def parse_label_selector(text: str) -> LabelSelector:
    """``labels.Parse``: ``a=b,c!=d,e in (f,g),h notin (i),j,!k,l>1,m<2``; ``""`` selects everything."""
    return _selector(_Parser(text).parse())


_SELECTOR_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_object(selector: Mapping[str, Any] | None) -> LabelSelector:
    """``metav1.LabelSelectorAsSelector``: None selects nothing, ``{}`` selects everything.

    Kube converts a selector once and matches with it many times; labkit's callers keep the JSON
    selector and convert at each match (the scheduler per pod and node), so conversions are
    remembered by content."""
    if selector is None:
        return LabelSelector(nothing=True)
    match_labels = tuple((selector.get("matchLabels") or {}).items())
    expressions = tuple((e.get("key", ""), e.get("operator"), tuple(e.get("values") or ()))
                        for e in selector.get("matchExpressions") or ())
    try:
        return _remembered_selector(match_labels, expressions)
    except TypeError:  # an unhashable value (validation refuses it): nothing to remember
        return _as_selector(match_labels, expressions)


def _as_selector(match_labels: tuple[tuple[str, str], ...],
                 expressions: tuple[tuple[str, Any, tuple[str, ...]], ...]) -> LabelSelector:
    requirements = [new_requirement(k, EQUALS, [v]) for k, v in match_labels]
    for key, op, values in expressions:
        operator = _SELECTOR_OPERATORS.get(op)
        if operator is None:
            raise SelectorError(f"{json.dumps(op or '')} is not a valid label selector operator")
        requirements.append(new_requirement(key, operator, values))
    return _selector(requirements)


_remembered_selector = functools.lru_cache(maxsize=4096)(_as_selector)


def selector_from_validated_set(labels: Mapping[str, str]) -> LabelSelector:
    """``labels.SelectorFromValidatedSet``: ``key=value`` for every entry, as a Service's
    ``spec.selector`` (validated when the Service was written) selects its pods. ``{}`` selects
    everything; callers that mean "no selector, no pods" check for that themselves."""
    return _selector(Requirement(k, EQUALS, (v,)) for k, v in labels.items())
