"""The protobuf body decoder against bodies captured from kubectl 1.32/1.33 and hand-built edge cases."""

from __future__ import annotations

import json
import pathlib
import random

import pytest

from labkit.apiserver.protobuf import MAGIC, ProtobufError, decode

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures" / "protobuf"
CAPTURED = sorted(path.stem for path in FIXTURES.glob("*.pb"))


def body(name: str) -> bytes:
    return (FIXTURES / f"{name}.pb").read_bytes()


def expected(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


# A minimal protobuf writer for hand-built bodies.

def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative ints are 64-bit two's complement on the wire
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(raw)) + raw


def envelope(api_version: str, kind: str, raw: bytes, *, encoding: str = "") -> bytes:
    """``k8s\\0`` + runtime.Unknown{typeMeta, raw, contentEncoding, contentType}, as client-go writes it."""
    type_meta = field(1, api_version) + field(2, kind)
    return MAGIC + field(1, type_meta) + field(2, raw) + field(3, encoding) + field(4, "")


# --- captured bodies --------------------------------------------------------------------------------


def test_every_body_has_its_expected_json() -> None:
    assert len(CAPTURED) == 34
    assert {path.stem for path in FIXTURES.glob("*.json")} == set(CAPTURED)


@pytest.mark.parametrize("name", CAPTURED)
def test_captured_body_decodes_to_what_kubectl_sends_as_json(name: str) -> None:
    assert decode(body(name)) == expected(name)


def test_pointer_fields_keep_their_zero_value() -> None:
    deployment = decode(body("deployment_port_replicas0"))
    assert deployment["spec"]["replicas"] == 0
    pod = decode(body("job_from_cronjob"))["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 0
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsUser"] == 0
    assert pod["tolerations"][1] == {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}
    assert pod["volumes"][0] == {"name": "scratch", "emptyDir": {}}


def test_non_pointer_zero_values_are_dropped() -> None:
    deployment = decode(body("deployment"))
    assert "creationTimestamp" not in deployment["metadata"]  # sent as an empty Time message
    assert "strategy" not in deployment["spec"] and "status" not in deployment
    assert "resources" not in deployment["spec"]["template"]["spec"]["containers"][0]
    assert "globalDefault" not in decode(body("priorityclass"))
    assert decode(body("priorityclass_default"))["value"] == 0  # `json:"value"` has no omitempty


def test_bytes_are_base64_and_map_entries_keep_empty_values() -> None:
    configmap = decode(body("configmap_file_binary"))
    assert configmap["binaryData"] == {"blob.bin": "AAEC//4gYmluYXJ5IIAK"}
    assert configmap["data"] == {"app.properties": "key=value\n"}
    assert decode(body("secret_generic"))["data"] == {"blank": "", "password": "aHVudGVyMg=="}
    assert decode(body("configmap_literal"))["data"] == {"a": "1", "empty": ""}


def test_int_or_string_and_quantity() -> None:
    container = decode(body("job_from_cronjob"))["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert container["livenessProbe"]["httpGet"]["port"] == 8080
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "128Mi"}
    assert decode(body("service_nodeport"))["spec"]["ports"][0]["targetPort"] == 8080


def test_delete_options_from_drain() -> None:
    assert decode(body("drain_delete")) == {"kind": "DeleteOptions", "apiVersion": "v1"}
    assert decode(body("drain_delete_grace"))["gracePeriodSeconds"] == 5


# --- hand-built bodies ------------------------------------------------------------------------------


def test_eviction() -> None:
    metadata = field(1, "web-1") + field(3, "default")
    delete_options = field(1, 0)  # gracePeriodSeconds: 0, a pointer
    raw = field(1, metadata) + field(2, delete_options)
    assert decode(envelope("policy/v1", "Eviction", raw)) == {
        "kind": "Eviction", "apiVersion": "policy/v1",
        "metadata": {"name": "web-1", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 0},
    }


def test_negative_ints_packed_repeated_ints_and_time() -> None:
    metadata = field(1, "low") + field(8, field(1, 1_700_000_000) + field(2, 5))
    raw = field(1, metadata) + field(2, -5)
    assert decode(envelope("scheduling.k8s.io/v1", "PriorityClass", raw)) == {
        "kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1",
        "metadata": {"name": "low", "creationTimestamp": "2023-11-14T22:13:20Z"}, "value": -5,
    }
    pod_security = field(4, varint(3000) + varint(4000))  # supplementalGroups, packed
    spec = field(2, field(1, "c")) + field(14, pod_security)
    template = field(2, spec)
    job = decode(envelope("batch/v1", "Job", field(2, field(6, template))))
    assert job["spec"]["template"]["spec"]["securityContext"] == {"supplementalGroups": [3000, 4000]}


def test_unknown_fields_are_skipped() -> None:
    namespace = field(1, field(1, "dev"))
    fixed32, fixed64 = varint(97 << 3 | 5) + bytes(4), varint(96 << 3 | 1) + bytes(8)
    extras = field(99, 7) + field(98, b"\x01\x02") + fixed32 + fixed64
    assert decode(envelope("v1", "Namespace", namespace + extras)) == {
        "kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "dev"},
    }


@pytest.mark.parametrize("bad, message", [
    (b'{"kind":"Namespace"}', "magic"),
    (envelope("v1", "Pod", b""), "no protobuf schema for kind 'Pod'"),
    (envelope("v1", "Namespace", b"", encoding="gzip"), "contentEncoding"),
    (envelope("v1", "Namespace", field(1, 5)), "wire type 0"),  # metadata sent as a varint
    (envelope("v1", "Namespace", field(1, field(1, b"\xff\xfe"))), "UTF-8"),
    (envelope("v1", "Namespace", varint(1 << 3 | 3)), "wire type 3"),  # a proto2 group
    (envelope("v1", "Namespace", b"\x00\x01"), "field number 0"),
    (MAGIC + b"\x0a\x80", "varint"),
    (MAGIC + b"\x0a" + b"\xff" * 11, "varint"),
])
def test_malformed_bodies_raise(bad: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=message):
        decode(bad)


def test_every_truncation_inside_the_object_raises() -> None:
    data = body("deployment")
    assert data.endswith(b"\x1a\x00\x22\x00")  # empty contentEncoding and contentType after raw
    raw_tag = data.index(b"Deployment") + len(b"Deployment")
    for end in range(raw_tag + 1, len(data) - 4):
        with pytest.raises(ProtobufError):
            decode(data[:end])


def test_corrupted_bodies_decode_or_raise_protobuf_error() -> None:
    data = body("job_from_cronjob")
    rng = random.Random(1)
    for _ in range(1500):
        corrupted = bytearray(data)
        corrupted[rng.randrange(len(MAGIC), len(data))] = rng.randrange(256)
        try:
            decode(bytes(corrupted))
        except ProtobufError:
            pass


def test_protobuf_error_is_a_value_error() -> None:
    assert issubclass(ProtobufError, ValueError)
