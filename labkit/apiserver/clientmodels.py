"""The official Python client's models (``kubernetes.client.models``, generated from Kubernetes' OpenAPI
document) read from their source, without importing the client.

Importing one model imports the whole ``kubernetes`` package (its kubeconfig loader, requests, oauthlib,
websocket, pydantic: some 20 MB a cluster would hold for good), while what labkit takes from the models
is spelled out in their generated source: each class's ``openapi_types`` (attribute -> the client's type
name, ``List[V1Container]``) and ``attribute_map`` (attribute -> JSON name), which decode request bodies
(:mod:`labkit.apiserver.fieldtypes`); its docstring and, per field, one line declaring it (its
description, whether it has a default, whether its annotation takes an int and a str), which the OpenAPI
documents and Table column descriptions show. Those are read here, each model's once, as pydantic
would read them; the package index (``models/__init__.py``) says which module holds which class.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import re
from pathlib import Path

_IMPORT = re.compile(r"^\s*from kubernetes\.client\.models\.(\w+) import (\w+)", re.M)
_CLASS = re.compile(r'^class (\w+)\(.*\):\n    ("""[\s\S]*?""")', re.M)  # a model's class and its docstring
#: a field's declaration in a model's class body, one line each
_DECLARATION = re.compile(r"^    (\w+): (?!ClassVar).*$", re.M)
_INT, _STR = {"int", "StrictInt"}, {"str", "StrictStr"}


@dataclasses.dataclass(frozen=True, slots=True)
class Model:
    """What one model class's source says of its fields."""

    openapi_types: dict[str, str]  # attribute -> the client's type name
    attribute_map: dict[str, str]  # attribute -> JSON name


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """What a model's source says of one field beyond its type."""

    description: str  # "" when it has none
    required: bool  # declared without a default
    int_or_string: bool  # its annotation takes an int and a str both (Go's intstr.IntOrString)


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


def _field(line: str) -> Field:
    """One field's declaration, ``name: Annotation = Field(default=None, ..., description="...")``."""
    stmt = ast.parse(line.strip()).body[0]
    assert isinstance(stmt, ast.AnnAssign), line
    names = {n.id for n in ast.walk(stmt.annotation) if isinstance(n, ast.Name)}
    call = stmt.value if isinstance(stmt.value, ast.Call) else None  # Field(...), or None for "= None"
    kwargs = {k.arg: k.value for k in call.keywords} if call else {}
    default = (call.args[0] if call.args else kwargs.get("default")) if call else stmt.value
    # as pydantic reads it: required when there is no default, or the default is ``...``
    required = "default_factory" not in kwargs and (default is None or getattr(default, "value", None) is Ellipsis)
    description = ast.literal_eval(kwargs["description"]) if "description" in kwargs else ""
    return Field(description, required, bool(names & _INT and names & _STR))


@functools.cache
def fields(name: str) -> dict[str, Field]:
    """JSON name -> what the source says of that field, for model class ``name``."""
    lines = {m.group(1): m.group() for m in _DECLARATION.finditer(_source(name))}
    # a field whose name Python or pydantic reserves is declared as var_<name> (var_except for _except)
    return {json_name: _field(lines.get(attr) or lines[f"var_{attr.lstrip('_')}"])
            for attr, json_name in read(name).attribute_map.items()}


@functools.cache
def docstring(name: str) -> str:
    """The model class's docstring, as its ``__doc__``."""
    found = _CLASS.search(_source(name))
    assert found and found.group(1) == name, name
    return ast.literal_eval(found.group(2))
