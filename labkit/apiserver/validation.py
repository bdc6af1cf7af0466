"""ObjectMeta validation common to every resource.

Mirrors ``k8s.io/apimachinery/pkg/api/validation/objectmeta.go`` (``ValidateObjectMeta``,
``ValidateObjectMetaUpdate``) and ``pkg/apis/meta/v1/validation`` (labels). Resource-specific rules
live in each strategy; the checks of names, label keys and values it applies, and the field errors
it returns, are ``labkit/apimachinery/validation.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit.apimachinery.validation import (
    Cause,
    forbidden,
    invalid,
    label_value_errors,
    qualified_name_errors,
    required,
)
from labkit.apiserver.strategy import NAME_RULES

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def validate_labels(labels: Any, path: str) -> list[Cause]:
    if labels is None:
        return []
    if not isinstance(labels, Mapping):
        return [invalid(path, labels, "must be a map of string keys to string values")]
    causes = []
    for k, v in labels.items():
        causes += [invalid(path, k, e) for e in qualified_name_errors(k)]
        if not isinstance(v, str):
            causes.append(invalid(f"{path}[{k}]", v, "must be a string"))
        else:
            causes += [invalid(path, v, e) for e in label_value_errors(v)]
    return causes


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    if annotations is None:
        return []
    if not isinstance(annotations, Mapping):
        return [invalid(path, annotations, "must be a map of string keys to string values")]
    causes = [invalid(path, k, e) for k in annotations for e in qualified_name_errors(k.lower())]
    if any(not isinstance(v, str) for v in annotations.values()):
        causes.append(invalid(path, "", "values must be strings"))
    elif sum(len(k) + len(v) for k, v in annotations.items()) > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(Cause("FieldValueTooLong", f"Too long: must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes",
                            path))
    return causes


def validate_object_meta(meta: Mapping[str, Any], *, namespaced: bool, name_rule: str) -> list[Cause]:
    causes: list[Cause] = []
    name = meta.get("name")
    if not name:
        causes.append(required("metadata.name", "name or generateName is required"))
    elif not isinstance(name, str):
        causes.append(invalid("metadata.name", name, "must be a string"))
    else:
        causes += [invalid("metadata.name", name, e) for e in NAME_RULES[name_rule](name)]
    if namespaced:
        ns = meta.get("namespace")
        if not ns:
            causes.append(required("metadata.namespace"))
        else:
            causes += [invalid("metadata.namespace", ns, e) for e in NAME_RULES["label"](ns)]
    causes += validate_labels(meta.get("labels"), "metadata.labels")
    causes += validate_annotations(meta.get("annotations"), "metadata.annotations")
    finalizers = meta.get("finalizers") or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        causes.append(invalid("metadata.finalizers", finalizers, "must be a list of strings"))
    else:
        for i, f in enumerate(finalizers):
            causes += [invalid(f"metadata.finalizers[{i}]", f, e) for e in qualified_name_errors(f)]
    return causes


def validate_object_meta_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    """Immutable metadata; ``deletionTimestamp`` set means no new finalizers may be added."""
    causes = []
    for field in ("name", "namespace", "uid", "creationTimestamp"):
        if new.get(field) != old.get(field):
            causes.append(invalid(f"metadata.{field}", new.get(field), "field is immutable"))
    if old.get("deletionTimestamp"):
        added = set(new.get("finalizers") or []) - set(old.get("finalizers") or [])
        if added:
            causes.append(forbidden("metadata.finalizers",
                                    "no new finalizers can be added if the object is being deleted, "
                                    f"found new finalizers {sorted(added)}"))
    return causes
