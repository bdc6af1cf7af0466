"""Pods: defaulting as a real cluster returns it, validation causes, QoS, the Table cells, and the
immutable-update rule."""

from __future__ import annotations

import copy

import pytest

from labkit.apimachinery.podutil import qos_class
from labkit.apiserver.errors import ApiError
from labkit.apiserver.registry.pod import STRATEGY, default_pod_spec, validate_pod_spec, validate_pod_template

from .conftest import NOW

CREATED = "2026-01-01T11:55:00Z"  # five minutes before NOW

# What `kubectl run nginx --image=nginx` sends (observed).
KUBECTL_RUN = {
    "kind": "Pod", "apiVersion": "v1",
    "metadata": {"name": "nginx", "creationTimestamp": None, "labels": {"run": "nginx"}},
    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}],
             "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"},
    "status": {},
}


def causes_of(err: ApiError) -> list[tuple[str, str]]:
    return [(c["field"], c["message"]) for c in err.status()["details"]["causes"]]


def pod(*containers: dict, **spec) -> dict:
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": list(containers), **spec}}


def test_kubectl_run_defaults_match_a_real_cluster(registry):
    created, _ = registry("pods").create("default", copy.deepcopy(KUBECTL_RUN))
    spec = dict(created["spec"])
    spec.pop("preemptionPolicy", None)  # set by kube's Priority admission plugin, not the strategy
    # Field by field what kube-apiserver 1.33 returns (the volume's five characters are random there).
    assert spec == {
        "containers": [{
            "image": "nginx", "imagePullPolicy": "Always", "name": "nginx", "resources": {},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                              "name": "kube-api-access-x7k2q", "readOnly": True}],
        }],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300},
        ],
        "volumes": [{"name": "kube-api-access-x7k2q", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
            {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                        "path": "namespace"}]}}]}}],
    }
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert created["metadata"]["generation"] == 1


def test_a_pod_mounts_its_service_account_unless_told_not_to(registry):
    pods = registry("pods")
    mounted, _ = pods.create("default", pod({"name": "a", "image": "busybox"},
                                            initContainers=[{"name": "init", "image": "busybox"}]))
    assert [c["volumeMounts"][0]["name"] for c in mounted["spec"]["initContainers"] + mounted["spec"]["containers"]] == \
        ["kube-api-access-x7k2q"] * 2
    own = {"name": "mine", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    kept, _ = pods.create("default", {**pod({"name": "a", "image": "busybox", "volumeMounts": [own]},
                                            volumes=[{"name": "mine", "emptyDir": {}}]),
                                      "metadata": {"name": "own", "namespace": "default"}})
    assert kept["spec"]["containers"][0]["volumeMounts"] == [own] and len(kept["spec"]["volumes"]) == 1
    off, _ = pods.create("default", {**pod({"name": "a", "image": "busybox"}, automountServiceAccountToken=False),
                                     "metadata": {"name": "off", "namespace": "default"}})
    assert "volumes" not in off["spec"] and "volumeMounts" not in off["spec"]["containers"][0]


def test_client_status_is_replaced_on_create(registry):
    body = pod({"name": "c", "image": "busybox"})
    body["status"] = {"phase": "Running", "podIP": "10.0.0.9"}
    created, _ = registry("pods").create("default", body)
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:v1", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"), ("nginx:1.25@sha256:" + "a" * 64, "IfNotPresent"),
])
def test_image_pull_policy_follows_the_tag(image, policy):
    spec = {"containers": [{"name": "c", "image": image}]}
    default_pod_spec(spec)
    assert spec["containers"][0]["imagePullPolicy"] == policy


def test_template_defaults_leave_out_pod_only_fields():
    spec = {"containers": [{"name": "c", "image": "nginx:1", "ports": [{"containerPort": 80}],
                            "resources": {"limits": {"cpu": "0.5"}},
                            "readinessProbe": {"httpGet": {"port": 80}}}],
            "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "x"}}]}
    default_pod_spec(spec)
    c = spec["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["resources"] == {"limits": {"cpu": "500m"}}  # requests from limits is pod-only
    assert c["readinessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {}},
                               {"name": "cfg", "configMap": {"name": "x", "defaultMode": 420}}]
    assert "enableServiceLinks" not in spec and "tolerations" not in spec


def test_requests_default_to_limits_and_quantities_are_canonical(registry):
    body = pod({"name": "c", "image": "busybox",
                "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}, "requests": {"cpu": 0.25}}})
    created, _ = registry("pods").create("default", body)
    assert created["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "1Gi"}}
    assert created["status"]["qosClass"] == "Burstable"


@pytest.mark.parametrize(("resources", "qos"), [
    ([{}], "BestEffort"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),  # requests default to limits
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}}], "Guaranteed"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}], "Burstable"),
    ([{"requests": {"cpu": "100m"}}], "Burstable"),
    ([{"limits": {"cpu": "1"}}], "Burstable"),  # no memory limit
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),  # one container without limits
    ([{"requests": {"ephemeral-storage": "1Gi"}}], "BestEffort"),  # only cpu and memory count
    ([{"requests": {"cpu": "0"}}], "BestEffort"),
])
def test_qos_class(resources, qos):
    spec = {"containers": [{"name": f"c{i}", "image": "x", "resources": r} for i, r in enumerate(resources)]}
    assert qos_class(spec) == qos


def test_validation_causes(registry):
    body = pod(
        {"name": "Web", "image": "nginx", "ports": [{"containerPort": 70000, "name": "http"},
                                                    {"containerPort": 81, "name": "http", "protocol": "ICMP"}]},
        {"name": "side"},
        {"name": "side", "image": " busybox", "volumeMounts": [{"name": "data", "mountPath": "/data"}],
         "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2", "memory": "lots"}}},
        restartPolicy="Sometimes",
    )
    with pytest.raises(ApiError) as err:
        registry("pods").create("default", body)
    assert err.value.code == 422
    assert causes_of(err.value) == [
        ("spec.containers[0].name", 'Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case '
         "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
         "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
        ("spec.containers[0].ports[0].containerPort", "Invalid value: 70000: must be between 1 and 65535, inclusive"),
        ("spec.containers[0].ports[1].name", 'Duplicate value: "http"'),
        ("spec.containers[0].ports[1].protocol", 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'),
        ("spec.containers[1].image", "Required value"),
        ("spec.containers[2].resources.requests[memory]", "Invalid value: \"lots\": quantities must match the regular "
         "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
        ("spec.containers[2].resources.requests", 'Invalid value: "2": must be less than or equal to cpu limit of 1'),
        ("spec.containers[2].volumeMounts[0].name", 'Not found: "data"'),
        ("spec.containers[2].name", 'Duplicate value: "side"'),
        ("spec.restartPolicy", 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'),
        # pod-only checks come after the spec's (templates allow a padded image)
        ("spec.containers[2].image", 'Invalid value: " busybox": must not have leading or trailing whitespace'),
    ]
    assert err.value.message.startswith('Pod "p" is invalid: [spec.containers[0].name: Invalid value: "Web"')


def test_containers_are_required():
    assert [(c.field, c.message) for c in validate_pod_spec({"restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}, "spec")] \
        == [("spec.containers", "Required value")]


def test_tolerations_are_validated():
    spec = {"containers": [{"name": "c", "image": "x"}], "tolerations": [
        {"operator": "Equal", "value": "x"},
        {"key": "k", "operator": "Exists", "value": "v", "effect": "NoSchedule"},
        {"key": "k", "operator": "Equal", "effect": "NoSchedule", "tolerationSeconds": 5},
        {"key": "k", "operator": "Maybe", "effect": "Sometimes"},
    ]}
    default_pod_spec(spec)
    assert [c.field for c in validate_pod_spec(spec, "spec")] == [
        "spec.tolerations[0].operator",
        "spec.tolerations[1].operator",
        "spec.tolerations[2].effect",
        "spec.tolerations[3].operator",
        "spec.tolerations[3].effect",
    ]


def test_pod_template_validation_uses_the_template_path():
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}
    default_pod_spec(template["spec"])
    assert [(c.field, c.message) for c in validate_pod_template(template, "spec.template")] == [
        ("spec.template.spec.containers[0].image", "Required value")]


def test_a_pod_that_tolerates_everything_gets_no_default_tolerations(registry):
    created, _ = registry("pods").create("default", pod({"name": "c", "image": "x"}, tolerations=[{"operator": "Exists"}]))
    assert created["spec"]["tolerations"] == [{"operator": "Exists"}]


# --- updates ---------------------------------------------------------------------------------------


def replace(registry, change, name="p"):
    reg = registry("pods")
    body = pod({"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}]})
    body["metadata"]["name"] = name
    reg.create("default", body)

    def mutate(obj):
        change(obj)
        return obj

    return reg.update("default", name, mutate)


def test_image_and_added_tolerations_may_change(registry):
    def change(obj):
        obj["spec"]["containers"][0]["image"] = "nginx:1.26"
        obj["spec"]["tolerations"].append({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"})
        obj["spec"]["activeDeadlineSeconds"] = 60

    updated, _ = replace(registry, change)
    assert updated["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert updated["metadata"]["generation"] == 2


def test_other_spec_changes_are_forbidden(registry):
    def change(obj):
        obj["spec"]["containers"][0]["ports"][0]["containerPort"] = 8080

    with pytest.raises(ApiError) as err:
        replace(registry, change)
    [(field, message)] = causes_of(err.value)
    assert field == "spec"
    assert message == (
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
        "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
        "negative)\n"
        "  - spec.containers[0].ports[0].containerPort: 80\n"
        "  + spec.containers[0].ports[0].containerPort: 8080")


def test_removing_a_toleration_or_a_container_is_forbidden(registry):
    with pytest.raises(ApiError) as err:
        replace(registry, lambda obj: obj["spec"]["tolerations"].pop())
    assert causes_of(err.value) == [
        ("spec.tolerations", "Forbidden: existing toleration can not be modified except its tolerationSeconds")]
    with pytest.raises(ApiError) as err:
        replace(registry, lambda obj: obj["spec"]["containers"].append({"name": "d", "image": "x"}), name="q")
    assert causes_of(err.value) == [("spec.containers", "Forbidden: pod updates may not add or remove containers")]


def test_updates_keep_status(registry):
    updated, _ = replace(registry, lambda obj: obj.update(status={"phase": "Running"}))
    assert updated["status"]["phase"] == "Pending"


# --- Table ----------------------------------------------------------------------------------------


def row(status: dict, *, spec: dict | None = None, deleting: bool = False) -> list:
    obj = {"metadata": {"name": "p", "creationTimestamp": CREATED},
           "spec": spec or {"containers": [{"name": "c", "image": "x"}]}, "status": status}
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T11:59:00Z"
    return STRATEGY.cells(obj, NOW)


def waiting(reason: str, **extra) -> dict:
    return {"name": "c", "ready": False, "restartCount": 0, "state": {"waiting": {"reason": reason}}, **extra}


def test_column_names():
    assert [c.name for c in STRATEGY.columns] == [
        "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    assert [c.priority for c in STRATEGY.columns] == [0, 0, 0, 0, 1, 1, 1, 1]


@pytest.mark.parametrize(("status", "ready", "reason"), [
    ({"phase": "Pending"}, "0/1", "Pending"),
    ({"phase": "Pending", "containerStatuses": [waiting("ContainerCreating")]}, "0/1", "ContainerCreating"),
    ({"phase": "Pending", "containerStatuses": [waiting("ErrImagePull")]}, "0/1", "ErrImagePull"),
    ({"phase": "Running", "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                                                 "state": {"running": {"startedAt": CREATED}}}]}, "1/1", "Running"),
    ({"phase": "Running", "containerStatuses": [{"name": "c", "ready": False, "restartCount": 0,
                                                 "state": {"running": {"startedAt": CREATED}}}]}, "0/1", "Running"),
    ({"phase": "Succeeded", "containerStatuses": [{"name": "c", "ready": False, "restartCount": 0,
                                                   "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]},
     "0/1", "Completed"),
    ({"phase": "Failed", "containerStatuses": [{"name": "c", "ready": False, "restartCount": 0,
                                                "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]},
     "0/1", "Error"),
    ({"phase": "Failed", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 137}}}]},
     "0/1", "ExitCode:137"),
    ({"phase": "Failed", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 0, "signal": 9}}}]},
     "0/1", "Signal:9"),
    ({"phase": "Failed", "reason": "Evicted"}, "0/1", "Evicted"),
    ({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]},
     "0/1", "SchedulingGated"),
])
def test_status_cell(status, ready, reason):
    cells = row(status)
    assert cells[:2] == [ready, reason]


def test_status_cell_for_init_containers():
    spec = {"initContainers": [{"name": "init", "image": "x"}, {"name": "init2", "image": "x"}],
            "containers": [{"name": "c", "image": "x"}]}
    running = {"name": "init", "state": {"running": {}}}
    assert row({"phase": "Pending", "initContainerStatuses": [running]}, spec=spec)[1] == "Init:0/2"
    done = {"name": "init", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    crash = waiting("CrashLoopBackOff", name="init2", restartCount=2)
    assert row({"phase": "Pending", "initContainerStatuses": [done, crash]}, spec=spec)[1] == "Init:CrashLoopBackOff"
    failed = {"name": "init", "state": {"terminated": {"exitCode": 3}}}
    assert row({"phase": "Pending", "initContainerStatuses": [failed]}, spec=spec)[1] == "Init:ExitCode:3"


def test_crash_loop_shows_restarts_with_how_long_ago():
    cs = waiting("CrashLoopBackOff", restartCount=3,
                 lastState={"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-01-01T11:58:00Z"}})
    assert row({"phase": "Running", "containerStatuses": [cs]})[:3] == ["0/1", "CrashLoopBackOff", "3 (2m ago)"]


def test_terminating():
    running = {"phase": "Running", "containerStatuses": [{"name": "c", "ready": True, "state": {"running": {}}}]}
    assert row(running, deleting=True)[1] == "Terminating"
    assert row({"phase": "Succeeded"}, deleting=True)[1] == "Succeeded"  # terminal phases stay
    assert row({"phase": "Running", "reason": "NodeLost"}, deleting=True)[1] == "Unknown"


def test_wide_cells_and_age():
    cells = row({"phase": "Running", "podIPs": [{"ip": "10.1.0.5"}], "podIP": "10.1.0.5"},
                spec={"nodeName": "node-1", "containers": [{"name": "c", "image": "x"}],
                      "readinessGates": [{"conditionType": "example.com/ready"}]})
    assert cells[3:] == ["5m", "10.1.0.5", "node-1", "<none>", "0/1"]
    assert row({"phase": "Pending"})[3:7] == ["5m", "<none>", "<none>", "<none>"]


def test_field_labels():
    obj = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "restartPolicy": "Never", "schedulerName": "s",
                                               "serviceAccountName": "sa", "hostNetwork": True},
           "status": {"phase": "Running", "podIP": "10.1.0.5", "nominatedNodeName": "n2"}}
    assert STRATEGY.field_labels(obj) == {
        "spec.nodeName": "n1", "spec.restartPolicy": "Never", "spec.schedulerName": "s",
        "spec.serviceAccountName": "sa", "spec.hostNetwork": "true", "status.phase": "Running",
        "status.podIP": "10.1.0.5", "status.nominatedNodeName": "n2"}
