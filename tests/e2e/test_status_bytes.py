"""Error bodies byte for byte as kube-apiserver writes them: metav1.Status's fields in its Go struct's
order, compact, Go's escapes (``<``, ``>``, ``&`` as ``\\u003c`` ...), and the newline json.Encoder ends
a value with."""

from __future__ import annotations

import re

import requests

from labkit import Cluster, codec
from labkit.apiserver import errors



def test_a_real_servers_already_exists_body_is_reproduced_to_its_content_length() -> None:
    """A 409 a real kube-apiserver sent (Content-Length: 238), as a kopf log quotes it."""
    real = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"persistentvolumes '
            b'\\"mysql-instance-pv\\" already exists","reason":"AlreadyExists","details":{"name":"mysql-instance-pv",'
            b'"kind":"persistentvolumes"},"code":409}\n')
    assert len(real) == 238
    assert errors.already_exists("persistentvolumes", "mysql-instance-pv").encode() == real


def test_go_escapes() -> None:
    assert codec.go_dumps({"m": '<a href="x">&\u2028\u2029é\x01\x7f\n\t\b\f\\'}) == (
        b'{"m":"\\u003ca href=\\"x\\"\\u003e\\u0026\\u2028\\u2029\xc3\xa9\\u0001\x7f\\n\\t\\b\\f\\\\"}')
    assert codec.go_dumps({"k": "\ud800"}) == b'{"k":"\\ufffd"}'  # what Go writes for what is not UTF-8


def test_already_exists_not_found_and_conflict(raw: requests.Session, cluster: Cluster, namespace: str) -> None:
    cms = f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}}
    assert raw.post(cms, json=cm).status_code == 201
    r = raw.post(cms, json=cm)
    assert (r.status_code, r.content) == (409, (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \\"cm\\" already '
        b'exists","reason":"AlreadyExists","details":{"name":"cm","kind":"configmaps"},"code":409}\n'))
    r = raw.get(f"{cluster.url}/apis/apps/v1/namespaces/{namespace}/deployments/web")
    assert (r.status_code, r.content) == (404, (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \\"web\\" '
        b'not found","reason":"NotFound","details":{"name":"web","group":"apps","kind":"deployments"},"code":404}\n'))
    r = raw.put(f"{cms}/cm", json={**cm, "metadata": {"name": "cm", "resourceVersion": "1"}})
    assert (r.status_code, r.content) == (409, (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be '
        b'fulfilled on configmaps \\"cm\\": the object has been modified; please apply your changes to the latest '
        b'version and try again","reason":"Conflict","details":{"name":"cm","kind":"configmaps"},"code":409}\n'))
    r = raw.get(f"{cluster.url}/api/v1/nothing")
    assert (r.status_code, r.content) == (404, (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find '
        b'the requested resource","reason":"NotFound","details":{},"code":404}\n'))


def test_invalid_with_causes(raw: requests.Session, cluster: Cluster, namespace: str) -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "<b&c>"}},
                  "spec": {"replicas": -1, "selector": {"matchLabels": {"a": "b"}},
                           "template": {"metadata": {"labels": {"a": "b"}},
                                        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    r = raw.post(f"{cluster.url}/apis/apps/v1/namespaces/{namespace}/deployments", json=deployment)
    label = (b'Invalid value: \\"\\u003cb\\u0026c\\u003e\\": a valid label must be an empty string or consist of '
             b"alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
             b"(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
             b"'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
    replicas = b"Invalid value: -1: must be greater than or equal to 0"
    assert (r.status_code, r.content) == (422, (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Deployment.apps \\"d\\" is '
        b"invalid: [metadata.labels: " + label + b", spec.replicas: " + replicas + b']","reason":"Invalid",'
        b'"details":{"name":"d","group":"apps","kind":"Deployment","causes":['
        b'{"reason":"FieldValueInvalid","message":"' + label + b'","field":"metadata.labels"},'
        b'{"reason":"FieldValueInvalid","message":"' + replicas + b'","field":"spec.replicas"}]},"code":422}\n'))


def test_forbidden(cluster: Cluster, namespace: str) -> None:
    assert cluster.apiserver is not None
    ca = str(cluster.apiserver.pki.directory / "ca.crt")
    anonymous = requests.Session()
    anonymous.trust_env = False
    r = anonymous.get(f"{cluster.url}/api/v1/namespaces/{namespace}/pods/p", verify=ca)
    assert (r.status_code, r.content) == (403, (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"p\\" is forbidden: '
        b'User \\"system:anonymous\\" cannot get resource \\"pods\\" in API group \\"\\" in the namespace \\"'
        + namespace.encode() + b'\\"","reason":"Forbidden","details":{"name":"p","kind":"pods"},"code":403}\n'))
    r = anonymous.get(f"{cluster.url}/apis/apps/v1/deployments", verify=ca)
    assert (r.status_code, r.content) == (403, (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps is '
        b'forbidden: User \\"system:anonymous\\" cannot list resource \\"deployments\\" in API group \\"apps\\" at '
        b'the cluster scope","reason":"Forbidden","details":{"group":"apps","kind":"deployments"},"code":403}\n'))
    r = anonymous.get(f"{cluster.url}/", verify=ca)
    assert (r.status_code, r.content) == (403, (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"forbidden: User '
        b'\\"system:anonymous\\" cannot get path \\"/\\"","reason":"Forbidden","details":{},"code":403}\n'))


def test_gone(raw: requests.Session, cluster: Cluster, namespace: str) -> None:
    """A watch from a revision older than the watch cache and the store keep ends with the Status of an
    expired resource version (the event as kube's watch encoder writes it: the Status compacted into
    the line). The number in parentheses is the oldest revision still served, less one."""
    assert cluster.apiserver is not None
    store = cluster.apiserver.store
    raw.post(f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps",
             json={"metadata": {"name": "bump"}})  # at least one revision to compact away
    store.compact(store.revision)  # what kube-apiserver asks of etcd every five minutes
    r = raw.get(f"{cluster.url}/api/v1/namespaces/{namespace}/configmaps?watch=true&resourceVersion=1", timeout=10)
    oldest = re.search(rb"too old resource version: 1 \((\d+)\)", r.content)
    assert oldest is not None and int(oldest[1]) > 1, r.content
    assert (r.status_code, r.content) == (200, (
        b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
        b'"too old resource version: 1 (' + oldest[1] + b')","reason":"Expired","code":410}}\n'))
    assert errors.gone("too old resource version: 1 (5)").encode() == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: '
        b'1 (5)","reason":"Expired","code":410}\n')


def test_method_not_supported_and_internal_error_carry_kubes_details() -> None:
    assert errors.method_not_supported("pods", "create", "metrics.k8s.io").encode() == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"create is not supported on '
        b'resources of kind \\"pods.metrics.k8s.io\\"","reason":"MethodNotAllowed","details":{"group":'
        b'"metrics.k8s.io","kind":"pods"},"code":405}\n')
    assert errors.internal("boom").encode() == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Internal error occurred: '
        b'boom","reason":"InternalError","details":{"causes":[{"message":"boom"}]},"code":500}\n')
