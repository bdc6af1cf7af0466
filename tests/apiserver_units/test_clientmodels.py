"""The client's models read from their source say what the imported models say, for every model: the
field types and JSON names body decoding uses, and the field descriptions Table columns show."""

from __future__ import annotations

from kubernetes.client import models

from labkit.apiserver import clientmodels


def test_every_model_read_from_source_is_the_imported_model() -> None:
    names = sorted(models.__all__)
    assert names and all(clientmodels.exists(name) for name in names)
    assert not clientmodels.exists("V1NoSuchKind")
    for name in names:
        cls, read = getattr(models, name), clientmodels.read(name)
        assert list(read.openapi_types.items()) == list(cls.openapi_types.items()), name
        assert read.attribute_map == cls.attribute_map, name
        described = {f.serialization_alias or attr: f.description or "" for attr, f in cls.model_fields.items()}
        assert {field: clientmodels.description(name, field) for field in read.attribute_map.values()} == described
