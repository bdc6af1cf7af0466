"""The official Python client's models (``kubernetes.client.models``, generated from Kubernetes' OpenAPI
document) read from their source, without importing the client.

Importing one model imports the whole ``kubernetes`` package (its kubeconfig loader, requests, oauthlib,
websocket, pydantic: some 20 MB a cluster would hold for good), while decoding a request body and
describing a Table column need only what a model's generated source spells out as literals: its
``openapi_types`` (attribute -> the client's type name, ``List[V1Container]``), its ``attribute_map``
(attribute -> JSON name) and a field's ``description``. Those are read here, each model's once; the
package index (``models/__init__.py``) says which module holds which class. The OpenAPI documents, which
need more of the models (annotations, required fields), import them (:mod:`labkit.apiserver.openapi`).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import re
from pathlib import Path

_IMPORT = re.compile(r"^\s*from kubernetes\.client\.models\.(\w+) import (\w+)", re.M)


@dataclasses.dataclass(frozen=True, slots=True)
class Model:
    """What one model class's source says of its fields."""

    openapi_types: dict[str, str]  # attribute -> the client's type name
    attribute_map: dict[str, str]  # attribute -> JSON name


@functools.cache
def _directory() -> Path:
    spec = importlib.util.find_spec("kubernetes")  # a top-level package: found, not imported
    assert spec is not None and spec.submodule_search_locations, "the kubernetes client is not installed"
    return Path(spec.submodule_search_locations[0]) / "client" / "models"


@functools.cache
def _modules() -> dict[str, str]:
    """Model class -> the module (file name without ``.py``) that defines it, from the package index."""
    return {cls: module for module, cls in _IMPORT.findall((_directory() / "__init__.py").read_text())}


def exists(name: str) -> bool:
    """Whether the client has a model class called ``name``."""
    return name in _modules()


def _source(name: str) -> str:
    return (_directory() / f"{_modules()[name]}.py").read_text()


def _class_dict(source: str, attr: str) -> dict[str, str]:
    """A class attribute the generator writes as a dict literal of strings (so without braces inside)."""
    marker = f"\n    {attr}: ClassVar[Dict[str, str]] = "
    start = source.index(marker) + len(marker)
    return ast.literal_eval(source[start:source.index("}", start) + 1])


@functools.cache
def read(name: str) -> Model:
    """The fields of model class ``name`` (``KeyError`` when the client has none by that name)."""
    source = _source(name)
    return Model(_class_dict(source, "openapi_types"), _class_dict(source, "attribute_map"))


def description(name: str, field: str) -> str:
    """The description of the field whose JSON name is ``field`` in model class ``name``, "" if none."""
    attr = next(a for a, json_name in read(name).attribute_map.items() if json_name == field)
    line = re.search(rf"^    (?:var_)?{attr.lstrip('_')}: .*$", _source(name), re.M)  # var_except for _except
    assert line, attr
    value = ast.parse(line.group().strip()).body[0].value  # type: ignore[attr-defined]
    if isinstance(value, ast.Call):  # Field(default=None, ..., description="...")
        return next((ast.literal_eval(k.value) for k in value.keywords if k.arg == "description"), "")
    return ""
