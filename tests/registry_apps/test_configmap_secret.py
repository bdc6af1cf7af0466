"""ConfigMap, Secret and ServiceAccount strategies."""

from __future__ import annotations

import base64

import pytest

from labkit.apiserver.errors import ApiError
from labkit.apiserver.registry import configmap, secret, serviceaccount
from .helpers import CREATED, NOW, fields, status_causes

CM = configmap.STRATEGY
SECRET = secret.STRATEGY


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- ConfigMap ---------------------------------------------------------------------------------------


def test_configmap_keys_duplicates_and_size():
    obj = {"data": {"good.key_1": "x", "bad key": "y", "dup": "z", "..hidden": "w"}, "binaryData": {"dup": b64("q")}}
    assert fields(CM.validate(obj)) == [
        ("data[bad key]", 'Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '
                          "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key_name', regex used for "
                          "validation is '[-._a-zA-Z0-9]+')"),
        ("data[dup]", 'Invalid value: "dup": duplicate of key present in binaryData'),
        ("data[..hidden]", "Invalid value: \"..hidden\": must not start with '..'"),
    ]
    big = {"data": {"a": "x" * (1024 * 1024), "b": "y"}}
    assert fields(CM.validate(big)) == [("", "Too long: may not be more than 1048576 bytes")]
    assert CM.validate({"data": {"a": "x" * (1024 * 1024)}}) == []


def test_configmap_immutable_update():
    old = {"data": {"a": "1"}, "immutable": True}
    assert CM.validate_update({"data": {"a": "1"}, "immutable": True}, old) == []
    assert fields(CM.validate_update({"data": {"a": "2"}}, old)) == [
        ("immutable", "Forbidden: field is immutable when `immutable` is set"),
        ("data", "Forbidden: field is immutable when `immutable` is set"),
    ]
    # a mutable ConfigMap may become immutable, and change data on the way
    assert CM.validate_update({"data": {"a": "2"}, "immutable": True}, {"data": {"a": "1"}}) == []


def test_configmap_cells_count_both_bags():
    obj = {"metadata": {"creationTimestamp": CREATED}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": b64("3")}}
    assert [c.name for c in CM.columns] == ["Data", "Age"]
    assert CM.cells(obj, NOW) == [3, "5m"]


# --- Secret ------------------------------------------------------------------------------------------


def test_secret_defaults_type_and_folds_string_data(registry):
    reg = registry("", "secrets")
    created, _ = reg.create("default", {"metadata": {"name": "s"}, "data": {"a": b64("old"), "b": b64("keep")},
                                        "stringData": {"a": "new", "c": "plain"}})
    assert created["type"] == "Opaque"
    assert "stringData" not in created
    assert created["data"] == {"a": b64("new"), "b": b64("keep"), "c": b64("plain")}


def test_secret_data_must_be_base64_and_keys_valid():
    causes = SECRET.validate({"type": "Opaque", "data": {"ok": b64("x"), "bad": "not base64!", "a/b": b64("y")}})
    assert [c.field for c in causes] == ["data[bad]", "data[a/b]"]
    assert "<secret contents redacted>" in causes[0].message


@pytest.mark.parametrize(("secret_type", "data", "missing"), [
    ("kubernetes.io/tls", {"tls.crt": b64("c")}, ["data[tls.key]"]),
    ("kubernetes.io/tls", {}, ["data[tls.crt]", "data[tls.key]"]),
    ("kubernetes.io/dockerconfigjson", {}, ["data[.dockerconfigjson]"]),
    ("kubernetes.io/basic-auth", {}, ["data[username]", "data[password]"]),
    ("kubernetes.io/ssh-auth", {}, ["data[ssh-privatekey]"]),
    ("kubernetes.io/service-account-token", {}, ["metadata.annotations[kubernetes.io/service-account.name]"]),
])
def test_secret_types_require_their_keys(secret_type, data, missing):
    causes = SECRET.validate({"type": secret_type, "data": data})
    assert fields(causes) == [(f, "Required value") for f in missing]


def test_secret_typed_ok_and_bad_docker_json():
    assert SECRET.validate({"type": "kubernetes.io/tls", "data": {"tls.crt": b64("c"), "tls.key": b64("k")}}) == []
    assert SECRET.validate({"type": "kubernetes.io/basic-auth", "data": {"username": b64("u")}}) == []
    causes = SECRET.validate({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64("{nope")}})
    assert [c.field for c in causes] == ["data[.dockerconfigjson]"]


def test_secret_type_and_immutable_on_update(registry):
    reg = registry("", "secrets")
    reg.create("default", {"metadata": {"name": "s"}, "data": {"a": b64("1")}, "immutable": True})

    def retype(obj):
        obj["type"] = "kubernetes.io/basic-auth"
        obj["data"] = {"username": b64("u")}
        return obj

    with pytest.raises(ApiError) as err:
        reg.update("default", "s", retype)
    assert status_causes(err.value) == [
        ("type", 'Invalid value: "kubernetes.io/basic-auth": field is immutable'),
        ("data", "Forbidden: field is immutable when `immutable` is set"),
    ]


def test_secret_cells_and_type_field_selector():
    obj = {"metadata": {"creationTimestamp": CREATED}, "type": "kubernetes.io/tls",
           "data": {"tls.crt": b64("c"), "tls.key": b64("k")}}
    assert [c.name for c in SECRET.columns] == ["Type", "Data", "Age"]
    assert SECRET.cells(obj, NOW) == ["kubernetes.io/tls", 2, "5m"]
    assert SECRET.field_labels(obj) == {"type": "kubernetes.io/tls"}


# --- ServiceAccount ----------------------------------------------------------------------------------


def test_serviceaccount_cells():
    sa = serviceaccount.STRATEGY
    assert [c.name for c in sa.columns] == ["Secrets", "Age"]
    assert sa.cells({"metadata": {"creationTimestamp": CREATED}}, NOW) == [0, "5m"]
    assert sa.cells({"metadata": {"creationTimestamp": CREATED}, "secrets": [{"name": "t"}]}, NOW) == [1, "5m"]
