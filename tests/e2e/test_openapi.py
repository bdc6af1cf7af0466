"""The OpenAPI documents (``/openapi/v2``, ``/openapi/v3``) and server-side field validation, as
``kubectl explain`` and ``kubectl apply --validate=strict`` (1.27, 1.31, 1.33) use them."""

from __future__ import annotations

import json

import pytest
import requests
import yaml
from testkit import Kubectl

from labkit.apiserver.resources import RESOURCES

POD_SPEC = "io.k8s.api.core.v1.PodSpec"



def get(raw: requests.Session, path: str, **headers: str) -> requests.Response:
    return raw.get(raw.base_url + path, headers=headers, allow_redirects=False)  # type: ignore[attr-defined]


def walk_refs(doc: object) -> set[str]:
    if isinstance(doc, dict):
        return {doc["$ref"]} if "$ref" in doc else set().union(*(walk_refs(v) for v in doc.values()))
    if isinstance(doc, list):
        return set().union(*(walk_refs(v) for v in doc))
    return set()


def test_v3_lists_every_served_group_version_and_each_document_has_its_kinds(raw: requests.Session) -> None:
    index = get(raw, "/openapi/v3").json()["paths"]
    served = {f"apis/{r.group}/{r.version}" if r.group else f"api/{r.version}" for r in RESOURCES if not r.aggregated}
    assert set(index) == served
    url = index["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    r = get(raw, url, **{"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip" and r.headers["Cache-Control"] == "public, immutable"
    assert r.headers["Etag"] == f'"{url.rpartition("=")[2]}"'
    doc = r.json()  # requests undoes the gzip
    schemas = doc["components"]["schemas"]
    kinds = {(g["group"], g["version"], g["kind"]) for s in schemas.values()
             for g in s.get("x-kubernetes-group-version-kind", [])}
    assert {("apps", "v1", r.kind) for r in RESOURCES if r.group == "apps"} <= kinds
    assert {ref.removeprefix("#/components/schemas/") for ref in walk_refs(doc)} <= set(schemas), "no dangling $ref"
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    strategy = schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    assert get(raw, "/openapi/v3/apis/apps/v1", **{"If-None-Match": r.headers["Etag"]}).status_code == 304
    moved = get(raw, "/openapi/v3/apis/apps/v1?hash=0123")
    assert moved.status_code == 301 and moved.headers["Location"] == url
    assert get(raw, "/openapi/v3/apis/nosuch.k8s.io/v1").status_code == 404


def test_pod_schema_in_v3_and_v2(raw: requests.Session) -> None:
    core = get(raw, get(raw, "/openapi/v3").json()["paths"]["api/v1"]["serverRelativeURL"]).json()
    schemas = core["components"]["schemas"]
    containers = schemas[POD_SPEC]["properties"]["containers"]
    assert containers["type"] == "array" and containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    assert (containers["x-kubernetes-patch-merge-key"], containers["x-kubernetes-patch-strategy"]) == ("name", "merge")
    assert "containers" in schemas[POD_SPEC]["required"]
    assert schemas["io.k8s.api.core.v1.Container"]["required"] == ["name"]
    assert schemas["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Pod", "version": "v1"}]
    port = schemas["io.k8s.api.core.v1.ServicePort"]["properties"]
    assert port["targetPort"]["allOf"] == [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]
    assert port["port"] == {"type": "integer", "format": "int32", "description": port["port"]["description"]}
    v2 = get(raw, "/openapi/v2", Accept="application/json", **{"Accept-Encoding": "identity"})
    assert v2.headers["Content-Type"] == "application/json" and "Content-Encoding" not in v2.headers
    doc = v2.json()
    assert doc["swagger"] == "2.0"
    assert doc["definitions"][POD_SPEC]["properties"]["containers"]["items"] == {
        "$ref": "#/definitions/io.k8s.api.core.v1.Container"}
    assert "/apis/batch/v1/namespaces/{namespace}/jobs/{name}" in doc["paths"]
    pb = get(raw, "/openapi/v2", Accept="application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
    assert pb.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    assert pb.content.startswith(b"\n\x032.0") and b"\n\x1aio.k8s.api.core.v1.PodSpec" in pb.content


@pytest.mark.parametrize("version", ["1.27", "1.31", "1.33"])
def test_kubectl_explain(kubectl_for, version: str) -> None:
    kubectl: Kubectl = kubectl_for(version)
    spec = kubectl("explain", "pod.spec")
    assert "KIND:       Pod" in spec and "FIELD: spec <PodSpec>" in spec
    assert "  containers\t<[]Container> -required-\n    List of containers belonging to the pod." in spec
    assert "  restartPolicy\t<string>\n" in spec and "  activeDeadlineSeconds\t<integer>\n" in spec
    strategy = kubectl("explain", "deployment.spec.strategy")
    assert "GROUP:      apps" in strategy and "FIELD: strategy <DeploymentStrategy>" in strategy
    assert "  rollingUpdate\t<RollingUpdateDeployment>" in strategy and "  type\t<string>" in strategy
    surge = kubectl("explain", "deployment.spec.strategy.rollingUpdate.maxSurge")
    assert "FIELD: maxSurge <IntOrString>" in surge
    v2 = kubectl("explain", "deployment.spec.strategy", "--output=plaintext-openapiv2")  # from the protobuf v2
    assert "RESOURCE: strategy <Object>" in v2 and "   type\t<string>\n     Type of deployment." in v2
    tree = kubectl("explain", "pods", "--recursive")
    assert "    containers\t<[]Container> -required-\n      args\t<[]string>\n" in tree
    assert "        limits\t<map[string]Quantity>\n" in tree


def deployment(name: str, namespace: str, **extra_spec: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {**extra_spec, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox", "bogus": "x"}]}}}}


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_kubectl_validate_strict_refuses_an_unknown_field(kubectl_for, namespace: str, version: str) -> None:
    kubectl: Kubectl = kubectl_for(version)
    manifest = yaml.safe_dump(deployment("strict", namespace, foo=1))
    out = kubectl.run("apply", "--validate=strict", "-f", "-", input=manifest, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be handled '
        'as a Deployment: strict decoding error: unknown field "spec.foo", '
        'unknown field "spec.template.spec.containers[0].bogus"')
    out = kubectl.run("apply", "--server-side", "--validate=false", "-f", "-", input=manifest, check=False)
    assert out.stderr.strip() == (  # structured-merge-diff's typed conversion refuses it, whatever fieldValidation says
        f"Error from server (BadRequest): failed to create typed patch object ({namespace}/strict; apps/v1, Kind=Deployment): "
        ".spec.foo: field not declared in schema")
    out = kubectl.run("apply", "--validate=warn", "-f", "-", input=manifest)
    assert out.stderr.splitlines() == ['Warning: unknown field "spec.foo"',
                                       'Warning: unknown field "spec.template.spec.containers[0].bogus"']
    live = json.loads(kubectl("get", "deploy", "strict", "-n", namespace, "-o", "json"))
    assert "foo" not in live["spec"] and "bogus" not in live["spec"]["template"]["spec"]["containers"][0]


DUPLICATED = ('{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "%s", "name": "%s", "x": 1},'
              ' "spec": {"paused": true, "paused": false, "dupe": 1, "dupe": 2,'
              ' "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},'
              ' "spec": {"containers": [{"name": "c", "image": "i", "nested": 1,'
              ' "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}}}')
FOUND = ['duplicate field "metadata.name"', 'unknown field "metadata.x"', 'duplicate field "spec.paused"',
         'unknown field "spec.dupe"', 'unknown field "spec.template.spec.containers[0].nested"',
         'duplicate field "spec.template.spec.containers[0].imagePullPolicy"']


def test_field_validation_strict_warn_ignore(raw: requests.Session, namespace: str) -> None:
    """kube's wording and order: each problem where the body has it, a field both unknown and
    duplicated told once, as unknown; the last of a duplicated field's values is the one kept."""
    url = f"{raw.base_url}/apis/apps/v1/namespaces/{namespace}/deployments"  # type: ignore[attr-defined]

    def send(name: str, validation: str | None, method: str = "POST") -> requests.Response:
        params = {"fieldValidation": validation} if validation else {}
        target = url if method == "POST" else f"{url}/{name}"
        return raw.request(method, target, params=params, data=DUPLICATED % (name, name),
                           headers={"Content-Type": "application/json"})

    r = send("s", "Strict")
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
    assert r.json()["message"] == ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding '
                                   "error: " + ", ".join(FOUND))
    for name, validation in (("w", "Warn"), ("d", None)):  # Warn is the default
        r = send(name, validation)
        assert r.status_code == 201, r.text
        assert r.headers["Warning"] == ", ".join("299 - " + json.dumps(w) for w in FOUND)
        assert r.json()["spec"]["paused"] is False and "dupe" not in r.json()["spec"]
    r = send("i", "Ignore")
    assert r.status_code == 201 and "Warning" not in r.headers and "x" not in r.json()["metadata"]
    r = send("i", "Strict", method="PUT")
    assert r.status_code == 400 and r.json()["message"].endswith(", ".join(FOUND))
    for content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        r = raw.patch(f"{url}/i", params={"fieldValidation": "Strict"}, data=PATCH,
                      headers={"Content-Type": content_type})
        assert r.status_code == 400 and r.json()["message"] == PATCH_REFUSED
    r = raw.patch(f"{url}/i", data=PATCH, headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["spec"]["paused"] is False
    assert r.headers["Warning"] == ", ".join("299 - " + json.dumps(w) for w in PATCH_REFUSED.split(": ")[1].split(", "))


DUPLICATED_YAML = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: y
  name: y
  x: 1
spec:
  dupe: 1
  dupe: 2
  paused: true
  paused: false
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
      - name: c
        image: i
        nested: 1
"""


def test_field_validation_of_yaml_bodies_and_server_side_apply(raw: requests.Session, namespace: str) -> None:
    """go-yaml names each key set twice by its line; a YAML body's unknown fields come sorted; server-side
    apply refuses duplicates in its own words, and an undeclared field whatever fieldValidation says."""
    url = f"{raw.base_url}/apis/apps/v1/namespaces/{namespace}/deployments"  # type: ignore[attr-defined]
    lines = ['line 5: key "name" already set in map', 'line 9: key "dupe" already set in map',
             'line 11: key "paused" already set in map']
    unknown = ['unknown field "metadata.x"', 'unknown field "spec.dupe"',
               'unknown field "spec.template.spec.containers[0].nested"']
    yaml_body = {"data": DUPLICATED_YAML, "headers": {"Content-Type": "application/yaml"}}
    r = raw.post(url, params={"fieldValidation": "Strict"}, **yaml_body)
    assert r.status_code == 400 and r.json()["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: yaml: unmarshal '
        "errors:\n" + "\n".join(f"  {line}" for line in lines) + ", " + ", ".join(unknown))
    r = raw.post(url, **yaml_body)
    assert r.status_code == 201 and r.headers["Warning"] == ", ".join("299 - " + json.dumps(w) for w in lines + unknown)
    apply_body = json.dumps(deployment("y", namespace)).replace('"image": "busybox"', '"image": "a", "image": "b"')
    apply_body = apply_body.replace(", ", ",\n")  # go-yaml counts lines
    line = next(n for n, text in enumerate(apply_body.splitlines(), 1) if '"image": "b"' in text)
    applied = {"params": {"fieldManager": "m", "fieldValidation": "Strict"}, "data": apply_body,
               "headers": {"Content-Type": "application/apply-patch+yaml"}}
    r = raw.patch(f"{url}/y", **applied)
    assert r.status_code == 400 and r.json()["message"] == (
        "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n"
        f'  line {line}: key "image" already set in map')
    r = raw.patch(f"{url}/y", **{**applied, "params": {"fieldManager": "m", "fieldValidation": "Ignore"}})
    assert r.status_code == 400 and r.json() == {  # kube 1.33 answers 500 (kubernetes#139253): a bug
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "BadRequest", "code": 400,
        "message": f"failed to create typed patch object ({namespace}/y; apps/v1, Kind=Deployment): "
                   '.spec.template.spec.containers[name="c"].bogus: field not declared in schema'}


#: a patch's own duplicates come first, then the patched object's unknown fields in sorted order
PATCH = ('{"spec": {"unknown1": "v", "unknownDupe": 1, "unknownDupe": 2, "paused": true, "paused": false,'
         ' "template": {"spec": {"containers": [{"name": "c", "image": "i", "unknownNested": 1,'
         ' "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}}}')
PATCH_REFUSED = ('strict decoding error: duplicate field "spec.unknownDupe", duplicate field "spec.paused", '
                 'duplicate field "spec.template.spec.containers[0].imagePullPolicy", '
                 'unknown field "spec.template.spec.containers[0].unknownNested", unknown field "spec.unknown1", '
                 'unknown field "spec.unknownDupe"')
