"""Field errors, and the checks of names, label keys and label values every resource shares.

Mirrors ``k8s.io/apimachinery/pkg/util/validation/field`` (``field.Error`` and its constructors
``Required``, ``Invalid``, ``NotSupported``, ``Duplicate``, ``Forbidden``, ``TooLong``: a
:class:`Cause` here, as the API server renders it into ``Status.details.causes``),
``k8s.io/apimachinery/pkg/util/validation`` (``IsDNS1123Label``, ``IsDNS1123Subdomain``,
``IsDNS1035Label``, ``IsQualifiedName``, ``IsValidLabelValue``, with ``MaxLenError`` and
``RegexError`` spelling the messages) and ``pkg/api/validation/path`` (``IsValidPathSegmentName``).
Each check returns kube's messages word for word (an empty list when the value is valid), so a bad
name gets the same 422 from labkit as from kube-apiserver.

The API server's use of them (``ValidateObjectMeta``: names, labels, annotations, finalizers) is in
``labkit/apiserver/validation.py``; a label selector's (``NewRequirement``) in :mod:`labels`.
Left out: ``field.Path`` (labkit writes paths as strings), ``TypeInvalid``, ``Internal`` and the
other error types no labkit resource produces, IP, port and percent checks (``validation.IsValidIP``
...; the pod and service strategies check those themselves).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

# --- field errors (pkg/util/validation/field) ---------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Cause:
    """One field error; rendered into ``Status.details.causes``."""

    type: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, ...
    message: str
    field: str

    def as_dict(self) -> dict[str, Any]:
        """``metav1.StatusCause``: reason, message, field, each left out when empty (``omitempty``)."""
        fields = {"reason": self.type, "message": self.message, "field": self.field}
        return {k: v for k, v in fields.items() if v}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _show(value: Any) -> str:
    """A value as ``field.Error`` prints it: a string as Go's ``%q`` quotes it."""
    return go_quote(value) if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def go_quote(value: str) -> str:
    """``value`` as Go's ``%q`` and ``strconv.Quote`` write it (how kube's messages quote a name)."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                        "\v": "\\v"}.get(ch, f"\\x{ord(ch):02x}"))
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def required(field: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", "Required value" + (f": {detail}" if detail else ""), field)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {_show(value)}: {detail}", field)


def not_supported(field: str, value: Any, supported: list[str]) -> Cause:
    opts = ", ".join(_show(s) for s in supported)
    return Cause("FieldValueNotSupported", f"Unsupported value: {_show(value)}: supported values: {opts}", field)


def duplicate(field: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {_show(value)}", field)


def forbidden(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", field)


def too_long(field: str, value: Any, limit: int) -> Cause:
    return Cause("FieldValueTooLong", f"Too long: may not be more than {limit} bytes", field)


# --- names, label keys and values (pkg/util/validation) -----------------------------------------------


def max_len_error(length: int) -> str:
    """``validation.MaxLenError``."""
    return f"must be no more than {length} characters"


def regex_error(message: str, regex: str, *examples: str) -> str:
    """``validation.RegexError``: the rule, examples, and the regular expression it is checked with."""
    shown = "".join(f"{' or ' if i else ''}'{e}', " for i, e in enumerate(examples))
    return f"{message} ({'e.g. ' + shown if examples else ''}regex used for validation is '{regex}')"


@dataclasses.dataclass(frozen=True, slots=True)
class _Format:
    """A length limit and a regular expression, with the message that explains them."""

    max_len: int
    regex: str
    message: str

    def errors(self, value: str) -> list[str]:
        errs = [max_len_error(self.max_len)] if len(value) > self.max_len else []
        if not re.match(f"^{self.regex}$", value):
            errs.append(self.message)
        return errs


_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = _Format(63, _DNS1123_LABEL_FMT, regex_error(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character", _DNS1123_LABEL_FMT, "my-name", "123-abc"))
_DNS1123_SUBDOMAIN_FMT = rf"{_DNS1123_LABEL_FMT}(\.{_DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN = _Format(253, _DNS1123_SUBDOMAIN_FMT, regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character", _DNS1123_SUBDOMAIN_FMT, "example.com"))
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL = _Format(63, _DNS1035_LABEL_FMT, regex_error(
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character", _DNS1035_LABEL_FMT, "my-name", "abc-123"))
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_RULE = regex_error(
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character", _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
_QUALIFIED_NAME = _Format(63, _QUALIFIED_NAME_FMT, f"name part {_QUALIFIED_NAME_RULE}")
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE = _Format(63, _LABEL_VALUE_FMT, regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character", _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))


def dns1123_label_errors(value: str) -> list[str]:
    """``IsDNS1123Label``: namespaces, container and volume names; at most 63 characters."""
    return _DNS1123_LABEL.errors(value)


def dns1123_subdomain_errors(value: str) -> list[str]:
    """``IsDNS1123Subdomain``: most object names; at most 253 characters."""
    return _DNS1123_SUBDOMAIN.errors(value)


def dns1035_label_errors(value: str) -> list[str]:
    """``IsDNS1035Label``: service names, which must start with a letter."""
    return _DNS1035_LABEL.errors(value)


def path_segment_errors(value: str) -> list[str]:
    """``IsValidPathSegmentName``: a name that only has to be a valid path segment (RBAC objects)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    for bad in ("/", "%"):
        if bad in value:
            return [f"may not contain '{bad}'"]
    return []


def qualified_name_errors(key: str) -> list[str]:
    """``IsQualifiedName``: a label or annotation key, ``[prefix/]name`` with a DNS subdomain prefix."""
    if key.count("/") > 1:
        return [f"a qualified name {_QUALIFIED_NAME_RULE} with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"]
    prefix, _, name = key.rpartition("/")
    errs: list[str] = []
    if "/" in key and not prefix:
        errs.append("prefix part must be non-empty")
    elif prefix:
        errs += [f"prefix part {e}" for e in dns1123_subdomain_errors(prefix)]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + max_len_error(63))
    else:
        errs += _QUALIFIED_NAME.errors(name)
    return errs


def label_value_errors(value: str) -> list[str]:
    """``IsValidLabelValue``: at most 63 characters, may be empty."""
    return _LABEL_VALUE.errors(value)
