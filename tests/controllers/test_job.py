"""A Job's defaults and validation, as the API server applies them (the Job controller: unit/test_job.py)."""

from labkit.client import resource_path


def job_body(name, **spec):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {**spec, "template": {"spec": {"restartPolicy": "Never",
                                                   "containers": [{"name": "c", "image": "busybox"}]}}}}


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
