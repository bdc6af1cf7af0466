"""A controller of one's own, as the course's §3.3 has a learner write it, tested without a cluster: its
reconcile runs on the fakes, its requeue waits for the fake clock, and a failing one backs off and warns
once (``Controller.process``, the worker's turn)."""

from __future__ import annotations

import logging

import pytest

from labkit.client import resource_path
from labkit.controllers import Controller, Result

from .objects import NS, configmap


class Greeter(Controller):
    """The course's §3.3 example, written as a learner writes it (``__init__`` takes only the client)."""

    name = "greeter"
    watches = [("v1", "configmaps")]

    def __init__(self, client):
        super().__init__(client)
        self.seen = []

    async def reconcile(self, key):
        self.seen.append(key)
        cm = self.informer("v1", "configmaps").get(key)
        if cm is None or cm["metadata"].get("labels", {}).get("greet") != "yes":
            return None
        want = f"hello, {cm['metadata']['name']}"
        if (cm.get("data") or {}).get("greeting") != want:
            ns, name = key.split("/")
            await self.client.patch(resource_path("v1", "configmaps", namespace=ns, name=name),
                                    {"data": {"greeting": want}})
        return Result(requeue_after=60)


def test_a_learners_controller_runs_on_the_fakes_and_its_requeue_waits_for_the_clock(harness):
    h = harness(Greeter, [configmap("hi", labels={"greet": "yes"}), configmap("quiet")])
    assert sorted(h.drain()) == [f"{NS}/hi", f"{NS}/quiet"]
    assert h.writes() == [("patch", "configmaps", NS, "hi", {"data": {"greeting": "hello, hi"}})]
    assert h.waiting() == [(f"{NS}/hi", 60)], "the requeue waits for time to pass, not for a sleep"
    h.clear()
    assert h.drain(advance=59) == [] and h.actions() == []
    assert h.drain(watch=True, advance=1) == [f"{NS}/hi", f"{NS}/hi"]  # the requeue, then its own patch arriving
    assert h.actions() == [], "in sync: nothing to patch"


class Broken(Controller):
    name = "broken"
    watches = [("v1", "configmaps")]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tries = 0

    async def reconcile(self, key):
        self.tries += 1
        raise ValueError("no greeting configured")


def test_a_failing_reconcile_backs_off_and_warns_once_without_a_traceback(harness, caplog):
    h = harness(Broken, [configmap("trigger")])
    with caplog.at_level(logging.WARNING, logger="labkit.controllers.base"):
        h.drain()
        assert h.controller.tries == 1 and h.waiting() == [(f"{NS}/trigger", 0.005)]
        h.drain(advance=0.2)  # five retries, 5, 10, 20, 40 and 80 ms apart: the last at 155 ms
    # the next one 160 ms after that, at 315 ms
    assert h.controller.tries == 6 and h.waiting() == [(f"{NS}/trigger", pytest.approx(0.115))]
    lines = [r for r in caplog.records if "no greeting configured" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert lines[0].getMessage() == (f"broken: syncing '{NS}/trigger' failed: ValueError: no greeting configured "
                                     "(retrying; repeats are not logged)")
