"""Bad input gets what kube-apiserver answers: the right code and reason as a Status, never a 500,
never a partial write."""

from __future__ import annotations

import json
import re

import pytest
import requests

from labkit import Cluster



def post(raw: requests.Session, path: str, body: bytes | str, content_type: str = "application/json") -> requests.Response:
    return raw.post(raw.base_url + path, data=body, headers={"Content-Type": content_type})  # type: ignore[attr-defined]


def status_of(resp: requests.Response, code: int, reason: str) -> dict:
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert (body["kind"], body["status"], body["code"], body["reason"]) == ("Status", "Failure", code, reason), body
    return body


def no_pods_named(raw: requests.Session, namespace: str, name: str) -> None:
    r = raw.get(f"{raw.base_url}/api/v1/namespaces/{namespace}/pods/{name}")  # type: ignore[attr-defined]
    assert r.status_code == 404, "a refused request must not leave a partial write"


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def test_malformed_json_is_400(raw: requests.Session, namespace: str) -> None:
    body = status_of(post(raw, f"/api/v1/namespaces/{namespace}/pods", '{"metadata": {'), 400, "BadRequest")
    assert "json parse error" in body["message"]


def test_malformed_yaml_is_400(raw: requests.Session, namespace: str) -> None:
    status_of(post(raw, f"/api/v1/namespaces/{namespace}/pods", "metadata: [unclosed", "application/yaml"), 400, "BadRequest")


def test_yaml_body_is_accepted(raw: requests.Session, namespace: str) -> None:
    r = post(raw, f"/api/v1/namespaces/{namespace}/pods",
             "apiVersion: v1\nkind: Pod\nmetadata: {name: y}\nspec:\n  containers: [{name: c, image: busybox}]\n",
             "application/yaml")
    assert r.status_code == 201 and r.json()["metadata"]["name"] == "y"


def test_api_version_or_kind_not_matching_url_is_400(raw: requests.Session, namespace: str) -> None:
    wrong_version = {**POD, "apiVersion": "apps/v1"}
    body = status_of(post(raw, f"/api/v1/namespaces/{namespace}/pods", json.dumps(wrong_version)), 400, "BadRequest")
    assert "apps/v1" in body["message"]
    wrong_kind = {**POD, "kind": "Service"}
    status_of(post(raw, f"/api/v1/namespaces/{namespace}/pods", json.dumps(wrong_kind)), 400, "BadRequest")
    no_pods_named(raw, namespace, "p")


def test_invalid_name_and_missing_fields_are_422_with_one_cause_each(raw: requests.Session, namespace: str) -> None:
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"}, "spec": {}}
    body = status_of(post(raw, f"/api/v1/namespaces/{namespace}/pods", json.dumps(bad)), 422, "Invalid")
    fields = {c["field"] for c in body["details"]["causes"]}
    assert {"metadata.name", "spec.containers"} <= fields
    assert body["message"].startswith('Pod "Bad_Name" is invalid: ')
    assert body["details"]["kind"] == "Pod"
    no_pods_named(raw, namespace, "Bad_Name")


def test_unknown_resource_is_404(raw: requests.Session) -> None:
    r = raw.get(f"{raw.base_url}/api/v1/namespaces/default/gizmos")  # type: ignore[attr-defined]
    status_of(r, 404, "NotFound")
    r = raw.get(f"{raw.base_url}/apis/nope.example.com/v1/things")  # type: ignore[attr-defined]
    status_of(r, 404, "NotFound")


def test_duplicate_create_is_409(raw: requests.Session, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    assert post(raw, path, json.dumps(POD)).status_code == 201
    body = status_of(post(raw, path, json.dumps(POD)), 409, "AlreadyExists")
    assert body["message"] == 'pods "p" already exists'
    assert body["details"] == {"name": "p", "kind": "pods"}


def test_body_over_3_mib_is_413(raw: requests.Session, namespace: str) -> None:
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"x": "a" * (3 * 1024 * 1024)}}
    status_of(post(raw, f"/api/v1/namespaces/{namespace}/configmaps", json.dumps(big)), 413, "RequestEntityTooLarge")
    r = raw.get(f"{raw.base_url}/api/v1/namespaces/{namespace}/configmaps/big")  # type: ignore[attr-defined]
    assert r.status_code == 404


def test_unsupported_content_type_is_415(raw: requests.Session, namespace: str) -> None:
    status_of(post(raw, f"/api/v1/namespaces/{namespace}/pods", json.dumps(POD), "text/plain"), 415, "UnsupportedMediaType")
    r = raw.patch(f"{raw.base_url}/api/v1/namespaces/{namespace}/pods/p", data="{}",  # type: ignore[attr-defined]
                  headers={"Content-Type": "application/json"})
    status_of(r, 415, "UnsupportedMediaType")


def test_bad_credentials_are_401_and_none_is_anonymous_403(cluster: Cluster) -> None:
    """kube-apiserver's --anonymous-auth (on by default with RBAC): no credentials at all is
    system:anonymous, whom RBAC refuses; a bad token is a 401."""
    assert cluster.apiserver is not None
    ca = str(cluster.apiserver.pki.directory / "ca.crt")
    s = requests.Session()
    s.trust_env = False
    body = status_of(s.get(f"{cluster.url}/api/v1/pods", verify=ca), 403, "Forbidden")
    assert body["message"] == ('pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
                               "at the cluster scope")
    r = s.get(f"{cluster.url}/api/v1/pods", verify=ca, headers={"Authorization": "Bearer not-a-token"})
    status_of(r, 401, "Unauthorized")
    assert s.get(f"{cluster.url}/readyz", verify=ca).text == "ok"  # health stays public


def test_stale_resource_version_update_is_409(raw: requests.Session, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    created = post(raw, path, json.dumps({"metadata": {"name": "cm"}, "data": {"a": "1"}})).json()
    stale = {**created, "data": {"a": "2"}}
    ok = raw.put(f"{raw.base_url}{path}/cm", json=stale)  # type: ignore[attr-defined]
    assert ok.status_code == 200
    body = status_of(raw.put(f"{raw.base_url}{path}/cm", json={**created, "data": {"a": "3"}}), 409, "Conflict")  # type: ignore[attr-defined]
    assert "the object has been modified" in body["message"]


def test_json_patch_test_failure_is_422_and_writes_nothing(raw: requests.Session, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    post(raw, path, json.dumps({"metadata": {"name": "cm"}, "data": {"a": "1"}}))
    ops = [{"op": "replace", "path": "/data/a", "value": "2"}, {"op": "test", "path": "/data/a", "value": "9"}]
    r = raw.patch(f"{raw.base_url}{path}/cm", json=ops, headers={"Content-Type": "application/json-patch+json"})  # type: ignore[attr-defined]
    status_of(r, 422, "Invalid")
    assert raw.get(f"{raw.base_url}{path}/cm").json()["data"] == {"a": "1"}  # type: ignore[attr-defined]


def test_bad_selectors_and_watch_options_are_refused(raw: requests.Session) -> None:
    base = raw.base_url  # type: ignore[attr-defined]
    status_of(raw.get(f"{base}/api/v1/pods", params={"labelSelector": "a in (b"}), 400, "BadRequest")
    status_of(raw.get(f"{base}/api/v1/pods", params={"fieldSelector": "spec.bogus=1"}), 400, "BadRequest")
    r = raw.get(f"{base}/api/v1/pods", params={"watch": "true", "sendInitialEvents": "true"})
    status_of(r, 422, "Invalid")


@pytest.mark.parametrize("content_type", ["application/json", "application/yaml"])
def test_a_large_body_is_read_whole(raw: requests.Session, namespace: str, content_type: str) -> None:
    data = {f"k{i:06d}": "v" * 40 for i in range(18_000)}  # about 900 KB, under the 1 MiB a ConfigMap may hold
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": data}
    body = json.dumps(cm) if content_type == "application/json" else "".join(
        ["apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n", *(f"  {k}: {v}\n" for k, v in data.items())])
    r = post(raw, f"/api/v1/namespaces/{namespace}/configmaps", body, content_type)
    assert r.status_code == 201, r.text[:300]
    stored = raw.get(f"{raw.base_url}/api/v1/namespaces/{namespace}/configmaps/big").json()  # type: ignore[attr-defined]
    assert stored["data"] == data, "every key the client sent is stored"


@pytest.mark.parametrize(("body", "content_type", "code", "reason"), [
    ('{"preconditions": {"uid": "nope"}}', "text/plain", 415, "UnsupportedMediaType"),
    ('{"preconditions": {"uid": "nope"}} x', "application/json", 400, "BadRequest"),
    ('{"preconditions": []}', "application/json", 400, "BadRequest"),
    ('{"dryRun": "All"}', "application/json", 400, "BadRequest"),
    ('{"kind": "Pod", "apiVersion": "v1"}', "application/json", 400, "BadRequest"),
    ('{"preconditions": {"uid": "nope"}}', "application/json", 409, "Conflict"),
])
def test_a_delete_whose_options_cannot_be_honoured_deletes_nothing(raw: requests.Session, namespace: str, body: str,
                                                                     content_type: str, code: int, reason: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    assert post(raw, path, json.dumps({"metadata": {"name": "keep"}})).status_code == 201
    r = raw.delete(f"{raw.base_url}{path}/keep", data=body, headers={"Content-Type": content_type})  # type: ignore[attr-defined]
    status_of(r, code, reason)
    assert raw.get(f"{raw.base_url}{path}/keep").status_code == 200, "still there"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("eviction", "message"), [
    ({"metadata": {"name": "other"}}, "name in URL does not match name in Eviction object"),
    ({"metadata": {"name": "p"}, "deleteOptions": {"gracePeriodSeconds": "x"}}, "deleteOptions.gracePeriodSeconds"),
])
def test_an_eviction_that_does_not_match_evicts_nothing(raw: requests.Session, namespace: str, eviction: dict,
                                                        message: str) -> None:
    pods = f"/api/v1/namespaces/{namespace}/pods"
    assert post(raw, pods, json.dumps(POD)).status_code == 201
    body = {"apiVersion": "policy/v1", "kind": "Eviction", **eviction}
    assert message in status_of(post(raw, f"{pods}/p/eviction", json.dumps(body)), 400, "BadRequest")["message"]
    assert raw.get(f"{raw.base_url}{pods}/p").status_code == 200  # type: ignore[attr-defined]


@pytest.mark.parametrize(("params", "code", "needle"), [
    ({"resourceVersionMatch": "Exact"}, 422, "forbidden unless resourceVersion is provided"),
    ({"resourceVersion": "1", "resourceVersionMatch": "Bogus"}, 422, 'Unsupported value: "Bogus"'),
    ({"resourceVersion": "0", "resourceVersionMatch": "Exact"}, 422, 'forbidden for resourceVersion "0"'),
    ({"sendInitialEvents": "true"}, 422, "sendInitialEvents is forbidden for list"),
    ({"resourceVersion": "abc"}, 400, "invalid resource version"),
    ({"watch": "true", "sendInitialEvents": "bogus"}, 400, "sendInitialEvents"),
])
def test_list_options_kube_refuses_are_refused(raw: requests.Session, params: dict, code: int, needle: str) -> None:
    r = raw.get(f"{raw.base_url}/api/v1/configmaps", params=params)  # type: ignore[attr-defined]
    assert needle in status_of(r, code, "Invalid" if code == 422 else "BadRequest")["message"]


def test_watch_without_initial_events_starts_now(raw: requests.Session, namespace: str) -> None:
    """``sendInitialEvents=false`` with no resourceVersion: no ADDED for what exists, then the changes."""
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    assert post(raw, path, json.dumps({"metadata": {"name": "before"}})).status_code == 201
    params = {"watch": "true", "sendInitialEvents": "false", "allowWatchBookmarks": "true",
              "resourceVersionMatch": "NotOlderThan", "timeoutSeconds": "2",
              "fieldSelector": "metadata.name!=kube-root-ca.crt"}  # the CA publisher's may come at any time
    with raw.get(f"{raw.base_url}{path}", params=params, stream=True) as r:  # type: ignore[attr-defined]
        assert r.status_code == 200
        assert post(raw, path, json.dumps({"metadata": {"name": "after"}})).status_code == 201
        events = [json.loads(line) for line in r.iter_lines() if line]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events if e["type"] != "BOOKMARK"] == [
        ("ADDED", "after")]


def test_put_or_patch_on_a_collection_is_405(raw: requests.Session, namespace: str) -> None:
    url = f"{raw.base_url}/api/v1/namespaces/{namespace}/configmaps"  # type: ignore[attr-defined]
    status_of(raw.put(url, data="{}", headers={"Content-Type": "application/json"}), 405, "MethodNotAllowed")
    status_of(raw.patch(url, data="{}", headers={"Content-Type": "application/merge-patch+json"}), 405,
              "MethodNotAllowed")


def test_responses_follow_the_accept_header(raw: requests.Session, namespace: str) -> None:
    path = f"{raw.base_url}/api/v1/namespaces/{namespace}/configmaps"  # type: ignore[attr-defined]
    assert raw.post(path, json={"metadata": {"name": "cm"}, "data": {"a": "b"}}).status_code == 201
    status_of(raw.get(path, headers={"Accept": "text/html"}), 406, "NotAcceptable")
    status_of(raw.get(path, headers={"Accept": "application/vnd.kubernetes.protobuf"}), 406, "NotAcceptable")
    r = raw.get(f"{path}/cm", headers={"Accept": "application/vnd.kubernetes.protobuf, application/json"})
    assert r.headers["Content-Type"].startswith("application/json") and r.json()["data"] == {"a": "b"}
    r = raw.get(f"{path}/cm", headers={"Accept": "application/yaml"})
    assert r.headers["Content-Type"] == "application/yaml" and "data:\n  a: b\n" in r.text
    r = raw.get(path, headers={"Accept": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"})
    listed = r.json()
    assert listed["kind"] == "PartialObjectMetadataList"
    assert ("PartialObjectMetadata", "cm", False) in [(i["kind"], i["metadata"]["name"], "data" in i)
                                                      for i in listed["items"]]
    assert all(set(i) == {"kind", "apiVersion", "metadata"} for i in listed["items"])


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                       "template": {"metadata": {"labels": {"a": "b"}},
                                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


@pytest.mark.parametrize(("change", "message"), [
    ({"replicas": 1.5}, "cannot unmarshal number into Go struct field DeploymentSpec.spec.replicas of type int32"),
    ({"replicas": "abc"}, "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
    ({"paused": "x"}, "cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool"),
    ({"replicas": 2**40}, "cannot unmarshal number 1099511627776 into Go struct field DeploymentSpec.spec.replicas "
                          "of type int32"),
    ({"template": 5}, "Go struct field DeploymentSpec.spec.template of type v1.PodTemplateSpec"),
])
def test_a_value_of_the_wrong_type_is_400_and_writes_nothing(raw: requests.Session, namespace: str, change: dict,
                                                              message: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    bad = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], **change}}
    assert message in status_of(post(raw, path, json.dumps(bad)), 400, "BadRequest")["message"]
    assert post(raw, path, json.dumps(DEPLOYMENT)).status_code == 201
    url = f"{raw.base_url}{path}/d"  # type: ignore[attr-defined]
    r = raw.patch(url, data=json.dumps({"spec": change}), headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert message in status_of(r, 400, "BadRequest")["message"]
    assert raw.get(url).json()["spec"]["replicas"] == 1, "the patch wrote nothing"


def test_unknown_fields_follow_field_validation(raw: requests.Session, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    url = f"{raw.base_url}{path}"  # type: ignore[attr-defined]
    body = {"metadata": {"name": "u", "bogusMeta": 1}, "data": {"a": "b"}, "foo": "bar"}
    r = raw.post(url, params={"fieldValidation": "Strict"}, json=body)
    assert 'strict decoding error: unknown field "metadata.bogusMeta", unknown field "foo"' in status_of(
        r, 400, "BadRequest")["message"]
    r = raw.post(url, json=body)  # the default, Warn: dropped, and said so
    assert r.status_code == 201 and "foo" not in r.json() and "bogusMeta" not in r.json()["metadata"]
    assert r.headers["Warning"] == '299 - "unknown field \\"metadata.bogusMeta\\"", 299 - "unknown field \\"foo\\""'
    r = raw.post(url, params={"fieldValidation": "Ignore"}, json={**body, "metadata": {"name": "v"}})
    assert r.status_code == 201 and "Warning" not in r.headers and "foo" not in r.json()
    status_of(raw.post(url, params={"fieldValidation": "Bogus"}, json=body), 400, "BadRequest")


def test_quantities_may_be_numbers(raw: requests.Session, namespace: str) -> None:
    pod = {**POD, "metadata": {"name": "q"}, "spec": {"containers": [
        {"name": "c", "image": "busybox", "resources": {"limits": {"cpu": 1, "memory": "64Mi"}}}]}}
    assert post(raw, f"/api/v1/namespaces/{namespace}/pods", json.dumps(pod)).status_code == 201


def test_a_binding_or_finalize_with_wrong_types_is_400(raw: requests.Session, namespace: str) -> None:
    assert post(raw, f"/api/v1/namespaces/{namespace}/pods", json.dumps(POD)).status_code == 201
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"name": 5}}
    status_of(post(raw, f"/api/v1/namespaces/{namespace}/pods/p/binding", json.dumps(binding)), 400, "BadRequest")
    url = f"{raw.base_url}/api/v1/namespaces/{namespace}/finalize"  # type: ignore[attr-defined]
    status_of(raw.put(url, json={"metadata": {"name": namespace}, "spec": {"finalizers": 5}}), 400, "BadRequest")


def test_yaml_reads_as_kubernetes_reads_it(raw: requests.Session, namespace: str) -> None:
    """A date stays the string it was written as; so deep a body that nothing could hold it is a 400."""
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    r = post(raw, path, "metadata: {name: 2020-01-01, labels: {day: 2020-01-01}}\ndata: {1: a}\n", "application/yaml")
    assert r.status_code == 201, r.text
    assert (r.json()["metadata"]["labels"], r.json()["data"]) == ({"day": "2020-01-01"}, {"1": "a"})
    status_of(post(raw, path, "[" * 100_000), 400, "BadRequest")
    status_of(post(raw, path, "a: " + "[" * 100_000, "application/yaml"), 400, "BadRequest")


def test_an_update_with_another_uid_is_422(raw: requests.Session, namespace: str) -> None:
    url = f"{raw.base_url}/api/v1/namespaces/{namespace}/configmaps"  # type: ignore[attr-defined]
    cm = raw.post(url, json={"metadata": {"name": "same"}}).json()
    cm["metadata"]["uid"] = "0000-other"
    body = status_of(raw.put(f"{url}/same", json=cm), 422, "Invalid")
    assert [c["field"] for c in body["details"]["causes"]] == ["metadata.uid"]


@pytest.mark.parametrize("token", [{"v": "meta.k8s.io/v1", "rv": -1, "start": "a"},
                                   {"v": "meta.k8s.io/v1", "rv": 5, "start": "../../secrets/default/"},
                                   {"v": "meta.k8s.io/v9", "rv": 5, "start": "a"}])
def test_a_forged_continue_token_is_400(raw: requests.Session, token: dict) -> None:
    import base64
    encoded = base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")
    r = raw.get(f"{raw.base_url}/api/v1/configmaps", params={"limit": "1", "continue": encoded})  # type: ignore[attr-defined]
    assert "continue key is not valid" in status_of(r, 400, "BadRequest")["message"]


def test_nulls_and_alias_bombs(raw: requests.Session, namespace: str) -> None:
    """A null struct is an empty one (then validation speaks); aliases that expand beyond reason are refused."""
    pods = f"/api/v1/namespaces/{namespace}/pods"
    status_of(post(raw, pods, json.dumps({"metadata": {"name": "x"}, "spec": None})), 422, "Invalid")
    status_of(post(raw, pods, json.dumps({"metadata": None})), 422, "Invalid")
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")]
    bomb = "\n".join(levels) + "\nmetadata: {name: bomb}\n"
    body = status_of(post(raw, f"/api/v1/namespaces/{namespace}/configmaps", bomb, "application/yaml"), 400, "BadRequest")
    assert "excessive aliasing" in body["message"]


def test_server_side_apply_of_a_list_item_without_its_key_is_400(raw: requests.Session, namespace: str) -> None:
    url = f"{raw.base_url}/apis/apps/v1/namespaces/{namespace}/deployments/d"  # type: ignore[attr-defined]
    bad = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "template": {"metadata": {"labels": {"a": "b"}},
                                                                     "spec": {"containers": [{"image": "nginx"}]}}}}
    r = raw.patch(url, params={"fieldManager": "me"}, data=json.dumps(bad),
                  headers={"Content-Type": "application/apply-patch+yaml"})
    assert 'omits key field "name"' in status_of(r, 400, "BadRequest")["message"]


def test_an_apply_conflict_names_each_manager_as_kubernetes_does(raw: requests.Session, namespace: str) -> None:
    url = f"{raw.base_url}/apis/apps/v1/namespaces/{namespace}/deployments/d"  # type: ignore[attr-defined]
    assert post(raw, f"/apis/apps/v1/namespaces/{namespace}/deployments", json.dumps(DEPLOYMENT)).status_code == 201
    template = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    changed = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replicas": 3, "template": template}}
    r = raw.patch(url, params={"fieldManager": "me"}, data=json.dumps(changed),
                  headers={"Content-Type": "application/apply-patch+yaml"})
    body = status_of(r, 409, "Conflict")
    head, *rest = body["message"].split("\n")
    assert re.fullmatch(r'Apply failed with 2 conflicts: conflicts with "python-requests" using apps/v1 at '
                        r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ:', head), head
    image = '.spec.template.spec.containers[name="c"].image'
    assert rest == ["- .spec.replicas", f"- {image}"]
    assert {c["field"] for c in body["details"]["causes"]} == {".spec.replicas", image}
