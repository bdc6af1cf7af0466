"""The client's models read from their source say what the imported models say, for every model: the
field types and JSON names body decoding uses; the docstrings, field descriptions, required fields and
int-or-string fields the OpenAPI documents and Table columns show."""

from __future__ import annotations

import typing
from typing import Any

from kubernetes.client import models

from labkit.apiserver import clientmodels


def types_in(annotation: Any) -> set[type]:
    """The classes an annotation names, however nested (``Optional[StrictInt | StrictStr]``: int, str, None)."""
    found = {annotation} if isinstance(annotation, type) else set()
    return found.union(*(types_in(arg) for arg in typing.get_args(annotation)))


def test_every_model_read_from_source_is_the_imported_model() -> None:
    names = sorted(models.__all__)
    assert names and all(clientmodels.exists(name) for name in names)
    assert not clientmodels.exists("V1NoSuchKind")
    for name in names:
        cls, read = getattr(models, name), clientmodels.read(name)
        assert list(read.openapi_types.items()) == list(cls.openapi_types.items()), name
        assert read.attribute_map == cls.attribute_map, name
        assert clientmodels.docstring(name) == cls.__doc__, name
        imported = {info.serialization_alias or attr: clientmodels.Field(
            info.description or "", info.is_required(), {int, str} <= types_in(info.annotation))
            for attr, info in cls.model_fields.items()}
        assert clientmodels.fields(name) == imported, name


def test_what_the_openapi_documents_rely_on_is_there_to_compare() -> None:
    """The comparison above can fail: the client has required fields and int-or-string ones."""
    assert clientmodels.fields("V1Container")["name"].required
    assert not clientmodels.fields("V1Container")["image"].required
    assert clientmodels.fields("V1ServicePort")["targetPort"].int_or_string
    assert not clientmodels.fields("V1ServicePort")["port"].int_or_string
    assert clientmodels.fields("V1IPBlock")["except"].description.startswith("except is a slice of CIDRs")
