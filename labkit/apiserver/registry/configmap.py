"""The ConfigMap strategy (``pkg/registry/core/configmap``).

Mirrors ``ValidateConfigMap`` / ``ValidateConfigMapUpdate`` (``pkg/apis/core/validation``),
``IsConfigMapKey`` (``k8s.io/apimachinery/pkg/util/validation``) and ``printConfigMap``. The key rules
and the 1 MiB limit are shared with Secrets (``registry/secret.py``).

Left out: nothing a learner can observe, except that a ``binaryData`` value that is not base64 is
rejected here with a 422 cause, where kube-apiserver fails to decode the body (400).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, forbidden, invalid, too_long
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

#: ``core.MaxSecretSize``: the limit for a ConfigMap's or a Secret's data
MAX_SIZE = 1024 * 1024

_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
                   "or 'KEY_NAME',  or 'key_name', regex used for validation is '[-._a-zA-Z0-9]+')")
_IMMUTABLE_MSG = "field is immutable when `immutable` is set"


def config_key_errors(key: str) -> list[str]:
    """``IsConfigMapKey``: errors of a ConfigMap or Secret data key; empty if valid."""
    errs = []
    if len(key) > 253:
        errs.append("must be no more than 253 characters")
    if not _CONFIG_KEY.match(key):
        errs.append(_CONFIG_KEY_MSG)
    if key in (".", ".."):
        errs.append(f"must not be '{key}'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def decode_base64(value: Any) -> bytes | None:
    """A ``[]byte`` field's JSON value (standard base64), or ``None`` if it is not valid base64."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def immutable_errors(obj: Obj, old: Obj, fields: tuple[str, ...]) -> list[Cause]:
    """Once ``immutable: true`` is stored, the flag and the data fields may not change."""
    if old.get("immutable") is not True:
        return []
    causes = []
    if obj.get("immutable") is not True:
        causes.append(forbidden("immutable", _IMMUTABLE_MSG))
    causes += [forbidden(f, _IMMUTABLE_MSG) for f in fields if (obj.get(f) or {}) != (old.get(f) or {})]
    return causes


class ConfigMapStrategy(Strategy):
    kind = "ConfigMap"
    columns = (Column("Data", description="Number of entries in data and binaryData."), AGE_COLUMN)

    def validate(self, obj: Obj) -> list[Cause]:
        data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
        causes: list[Cause] = []
        size = 0
        for key, value in data.items():
            causes += [invalid(f"data[{key}]", key, e) for e in config_key_errors(key)]
            if key in binary:
                causes.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
            if not isinstance(value, str):
                causes.append(invalid(f"data[{key}]", value, "must be a string"))
            else:
                size += len(value.encode())
        for key, value in binary.items():
            causes += [invalid(f"binaryData[{key}]", key, e) for e in config_key_errors(key)]
            decoded = decode_base64(value)
            if decoded is None:
                causes.append(invalid(f"binaryData[{key}]", value, "must be base64-encoded"))
            else:
                size += len(decoded)
        if size > MAX_SIZE:
            causes.append(too_long("", "", MAX_SIZE))
        return causes

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        return immutable_errors(obj, old, ("data", "binaryData")) + self.validate(obj)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), age(obj, now)]


STRATEGY = ConfigMapStrategy()
