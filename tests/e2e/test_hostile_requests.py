"""Hostile input never gets a 5xx or a hang: ten thousand seeded bad requests (labkit.testing.hostile)
through one keep-alive connection, then the cases kube answers in a way worth pinning."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from labkit import Cluster
from labkit.testing import hostile

HOSTILE_REQUESTS = 10_000  # the count: all of them, however long they take (15-30 s here)
SEED = 16


@pytest.fixture
def conn(cluster: Cluster) -> Iterator[hostile.Connection]:
    assert cluster.apiserver is not None
    pki = cluster.apiserver.pki.directory
    c = hostile.Connection(cluster.url, pki / "ca.crt", pki / "admin.crt", pki / "admin.key")
    yield c
    c.close()


def test_ten_thousand_hostile_requests_get_kube_statuses_and_harm_nothing(conn: hostile.Connection,
                                                                          namespace: str) -> None:
    bystander = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bystander"}, "data": {"a": "1"}}
    code, _, body = conn.send("POST", f"/api/v1/namespaces/{namespace}/configmaps", json.dumps(bystander).encode())
    assert code == 201, body
    before = json.loads(body)
    target_ns = f"{namespace}-h"[:63]
    assert conn.send("POST", "/api/v1/namespaces", json.dumps({"metadata": {"name": target_ns}}).encode())[0] == 201
    gen = hostile.Generator(target_ns, seed=SEED)
    for plural in gen.kinds:
        code, _, body = conn.send("POST", gen.collection(plural), json.dumps(gen.valid(plural)).encode())
        assert code == 201, body

    report = hostile.run(conn, gen, HOSTILE_REQUESTS)
    print(f"{report.sent} hostile requests in {report.elapsed:.1f} s: {dict(sorted(report.codes.items()))}")
    assert not report.problems, "\n".join(report.problems[:20])
    assert report.sent == HOSTILE_REQUESTS
    codes = report.codes
    assert codes[400] and codes[422] and codes[413] and codes[404], codes  # the generator reaches every kind of refusal

    assert conn.send("GET", "/readyz", content_type="")[0] == 200
    for plural in gen.kinds:  # whatever was written can still be read
        code, _, body = conn.send("GET", gen.collection(plural), content_type="")
        assert code == 200, body
    code, _, body = conn.send("GET", f"/api/v1/namespaces/{namespace}/configmaps/bystander", content_type="")
    assert code == 200 and json.loads(body) == before
    assert conn.send("DELETE", f"/api/v1/namespaces/{target_ns}", content_type="")[0] == 200


@pytest.mark.parametrize("spec, field", [
    ({"containers": [{"image": "busybox"}]}, "spec.containers[0].name"),
    ({"containers": [{"name": "c", "image": "busybox", "ports": [{"name": "http"}]}]},
     "spec.containers[0].ports[0].containerPort"),
    ({"containers": [{"name": "c", "image": "busybox", "env": [{"value": "x"}]}]}, "spec.containers[0].env[0].name"),
    ({"containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "v"}]}],
      "volumes": [{"name": "v", "emptyDir": {}}]}, "spec.containers[0].volumeMounts[0].mountPath"),
])
def test_a_list_item_without_its_merge_key_is_invalid_not_a_server_error(conn: hostile.Connection, namespace: str,
                                                                          spec: dict, field: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "keyless"}, "spec": spec}
    code, _, body = conn.send("POST", f"/api/v1/namespaces/{namespace}/pods", json.dumps(pod).encode())
    assert code == 422, body
    status = json.loads(body)
    assert status["message"] == f'Pod "keyless" is invalid: {field}: Required value'
    cause = {"reason": "FieldValueRequired", "message": "Required value", "field": field}
    assert status["details"]["causes"] == [cause]


def test_watch_timeouts_kube_cannot_read_are_400_and_a_negative_one_ends_the_watch(conn: hostile.Connection,
                                                                                   namespace: str) -> None:
    watch = f"/api/v1/namespaces/{namespace}/pods?watch=true&timeoutSeconds="
    code, _, body = conn.send("GET", watch + "99999999999999999999", content_type="")
    assert (code, json.loads(body)["message"]) == (
        400, 'strconv.ParseInt: parsing "99999999999999999999": value out of range')
    code, _, body = conn.send("GET", watch + "soon", content_type="")
    assert (code, json.loads(body)["message"]) == (400, 'strconv.ParseInt: parsing "soon": invalid syntax')
    started = time.monotonic()
    code, _, body = conn.send("GET", watch + "-1", content_type="")
    assert (code, body) == (200, b"") and time.monotonic() - started < 5


def test_a_lone_surrogate_is_stored_as_the_replacement_character(conn: hostile.Connection, namespace: str) -> None:
    body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"odd"},"data":{"a":"x\\ud800y","b":"\xff"}}'
    code, _, created = conn.send("POST", f"/api/v1/namespaces/{namespace}/configmaps", body)
    assert code == 201, created
    code, _, read = conn.send("GET", f"/api/v1/namespaces/{namespace}/configmaps/odd", content_type="")
    assert code == 200 and json.loads(read)["data"] == {"a": "x\ufffdy", "b": "\ufffd"}


@pytest.mark.parametrize("body, refused", [
    (b"[]", 'array into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
            'Kind string "json:\\"kind,omitempty\\"" }'),
    (b'{"kind": 5}', "number into Go struct field .kind of type string"),
])
def test_a_body_whose_kind_cannot_be_read_is_refused_in_the_decoders_words(conn: hostile.Connection, namespace: str,
                                                                           body: bytes, refused: str) -> None:
    code, _, answer = conn.send("POST", f"/api/v1/namespaces/{namespace}/configmaps", body)
    assert (code, json.loads(answer)["message"]) == (
        400, f"couldn't get version/kind; json parse error: json: cannot unmarshal {refused}")


def test_a_body_not_in_its_content_encoding_is_400(conn: hostile.Connection, namespace: str) -> None:
    code, _, answer = conn.send("POST", f"/api/v1/namespaces/{namespace}/configmaps", b'{"metadata": {"name": "z"}}',
                                headers={"Content-Encoding": "gzip"})
    assert code == 400 and json.loads(answer)["reason"] == "BadRequest"
