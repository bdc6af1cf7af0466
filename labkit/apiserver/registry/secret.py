"""The Secret strategy (``pkg/registry/core/secret``).

Mirrors ``SetDefaults_Secret`` (type ``Opaque``), the v1→internal conversion that folds ``stringData``
into ``data`` (base64-encoded, ``stringData`` dropped, a ``stringData`` key wins over the same ``data``
key), ``ValidateSecret`` / ``ValidateSecretUpdate`` (``pkg/apis/core/validation``: key names, 1 MiB,
the keys each built-in type requires, ``type`` and ``immutable`` rules), ``printSecret`` and the
``type`` field selector (``secret.SelectableFields``).

A ``data`` value that is not base64 is the decoder's 400 before this strategy runs
(:mod:`labkit.apiserver.fieldtypes`, as for every ``[]byte`` field); the strategy's own 422 cause for
it is only seen by code that calls the registry directly. Left out: a malformed docker config reports
Python's JSON error text, not Go's.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause, invalid, required, too_long
from labkit.apiserver.registry.configmap import MAX_SIZE, config_key_errors, decode_base64, immutable_errors
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age

_REDACTED = "<secret contents redacted>"


def _docker_config_errors(data: dict[str, Any], key: str) -> list[Cause]:
    """The docker config types need their key, holding a JSON object."""
    if key not in data:
        return [required(f"data[{key}]")]
    try:
        json.loads(decode_base64(data[key]) or b"")
    except ValueError as e:
        return [invalid(f"data[{key}]", _REDACTED, str(e))]
    return []


def _type_errors(secret_type: str, data: dict[str, Any], annotations: dict[str, Any]) -> list[Cause]:
    """What each built-in Secret type requires (the ``switch secret.Type`` in ``ValidateSecret``)."""
    if secret_type == "kubernetes.io/service-account-token":
        key = "kubernetes.io/service-account.name"
        return [] if annotations.get(key) else [required(f"metadata.annotations[{key}]")]
    if secret_type == "kubernetes.io/dockercfg":
        return _docker_config_errors(data, ".dockercfg")
    if secret_type == "kubernetes.io/dockerconfigjson":
        return _docker_config_errors(data, ".dockerconfigjson")
    if secret_type == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        return [required("data[username]"), required("data[password]")]
    if secret_type == "kubernetes.io/ssh-auth" and not data.get("ssh-privatekey"):
        return [required("data[ssh-privatekey]")]
    if secret_type == "kubernetes.io/tls":
        return [required(f"data[{k}]") for k in ("tls.crt", "tls.key") if k not in data]
    return []


class SecretStrategy(Strategy):
    kind = "Secret"
    columns = (
        Column("Type", description="Used to facilitate programmatic handling of secret data."),
        Column("Data", description="Number of entries in data."),
        AGE_COLUMN,
    )

    def default(self, obj: Obj) -> None:
        if not obj.get("type"):
            obj["type"] = "Opaque"
        string_data = obj.pop("stringData", None)
        if string_data:
            data = obj.get("data") or {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data

    def validate(self, obj: Obj) -> list[Cause]:
        data = obj.get("data") or {}
        causes: list[Cause] = []
        size = 0
        for key, value in data.items():
            causes += [invalid(f"data[{key}]", key, e) for e in config_key_errors(key)]
            decoded = decode_base64(value)
            if decoded is None:
                causes.append(invalid(f"data[{key}]", _REDACTED, "must be base64-encoded"))
            else:
                size += len(decoded)
        if size > MAX_SIZE:
            causes.append(too_long("data", "", MAX_SIZE))
        annotations = obj.get("metadata", {}).get("annotations") or {}
        return causes + _type_errors(obj.get("type", ""), data, annotations)

    def validate_update(self, obj: Obj, old: Obj) -> list[Cause]:
        causes = []
        if obj.get("type") != old.get("type"):
            causes.append(invalid("type", obj.get("type"), "field is immutable"))
        return causes + immutable_errors(obj, old, ("data",)) + self.validate(obj)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [obj.get("type", ""), len(obj.get("data") or {}), age(obj, now)]

    def field_labels(self, obj: Obj) -> dict[str, str]:
        return {"type": obj.get("type", "")}


STRATEGY = SecretStrategy()
