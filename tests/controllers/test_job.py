import datetime as dt

from labkit.apiserver.registry.job import STRATEGY
from labkit.client import resource_path

from .conftest import pods, wait_for

MERGE = "application/merge-patch+json"


def job_body(name, **spec):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {**spec, "template": {"spec": {"restartPolicy": "Never",
                                                   "containers": [{"name": "c", "image": "busybox"}]}}}}


def finish(api, pod, phase):
    api("PATCH", resource_path("v1", "pods", namespace=pod["metadata"]["namespace"], name=pod["metadata"]["name"],
                               subresource="status"), {"status": {"phase": phase}}, content_type=MERGE)


def running(api, ns):
    return [p for p in pods(api, ns) if p["status"].get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")]


def get_job(api, ns, name):
    return api("GET", resource_path("batch/v1", "jobs", namespace=ns, name=name))


def test_job_defaults_selector_and_validation(api, ns):
    job = api("POST", resource_path("batch/v1", "jobs", namespace=ns), job_body("d"))
    uid = job["metadata"]["uid"]
    assert (job["spec"]["completions"], job["spec"]["parallelism"], job["spec"]["backoffLimit"]) == (1, 1, 6)
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "d"
    bad = job_body("bad")
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    try:
        api("POST", resource_path("batch/v1", "jobs", namespace=ns), bad)
    except Exception as e:  # noqa: BLE001
        assert e.code == 422 and 'Unsupported value: "Always"' in str(e)
    else:
        raise AssertionError("restartPolicy Always accepted")


def test_job_runs_to_completion_with_parallelism(api, ns):
    api("POST", resource_path("batch/v1", "jobs", namespace=ns), job_body("work", completions=3, parallelism=2))
    first = wait_for(lambda: len(running(api, ns)) == 2 and running(api, ns), what="2 parallel pods")
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "Job" for p in first)
    for p in first:
        finish(api, p, "Succeeded")
    last = wait_for(lambda: (r := running(api, ns)) and len(pods(api, ns)) == 3 and r, what="the third pod only")
    assert len(last) == 1, "never more active than completions - succeeded"
    finish(api, last[0], "Succeeded")
    job = wait_for(lambda: (j := get_job(api, ns, "work"))["status"].get("completionTime") and j, what="Complete")
    (cond,) = job["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("Complete", "True", "CompletionsReached")
    assert job["status"]["succeeded"] == 3 and job["status"]["active"] == 0
    cells = STRATEGY.cells(job, dt.datetime.now(dt.timezone.utc))
    assert cells[:2] == ["Complete", "3/3"]


def test_job_fails_after_backoff_limit(api, ns):
    api("POST", resource_path("batch/v1", "jobs", namespace=ns), job_body("flaky", backoffLimit=1))
    for attempt in range(2):
        pod = wait_for(lambda: running(api, ns), what=f"attempt {attempt}")[0]
        finish(api, pod, "Failed")
    job = wait_for(lambda: (j := get_job(api, ns, "flaky"))["status"].get("conditions") and j, what="Failed")
    (cond,) = job["status"]["conditions"]
    assert (cond["type"], cond["reason"], cond["message"]) == ("Failed", "BackoffLimitExceeded",
                                                                "Job has reached the specified backoff limit")
    assert job["status"]["failed"] == 2 and not running(api, ns)
