"""A ``[]byte`` field (a Secret's data, an APIService's caBundle, a CSR's request) is base64 as Go's
``encoding/json`` decodes it: a body that is not answers the decoder's 400, naming the byte."""

from __future__ import annotations

import pytest

from labkit.apiserver import errors, fieldtypes


@pytest.mark.parametrize("text, at", [("", None), ("aGVsbG8=", None), ("aGVsbA==", None), ("aGVs\nbG8=", None),
                                      ("aGVsbG8", 4), ("aGVsbA=", 7), ("aGVs!G8=", 4), ("not base64!", 3),
                                      ("aGVsbG8=x", 8), ("a===", 1)])
def test_where_go_finds_base64_corrupt(text: str, at: int | None) -> None:
    assert fieldtypes.base64_error(text) == at


def test_a_bytes_field_that_is_not_base64_fails_decoding() -> None:
    service = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
               "spec": {"group": "x", "version": "v1", "caBundle": "!!!notbase64"}}
    with pytest.raises(errors.ApiError) as e:
        fieldtypes.check(service, "V1APIService", validation="Strict")
    assert (e.value.code, e.value.message) == (400, "illegal base64 data at input byte 0")
    with pytest.raises(errors.ApiError) as e:
        fieldtypes.check({"data": {"k": 5}}, "V1Secret", validation="Strict")
    assert e.value.message == "json: cannot unmarshal number into Go struct field Secret.data of type []uint8"
