"""Timeline: a story as a sequence diagram; play/slider replay; live following."""

from __future__ import annotations

import time

import ipywidgets

from labkit import Cluster
from labkit.trace import Trace
from labkit.widgets import Timeline, build_story
from labkit.widgets.story import ObjectRef

from .conftest import create_pod, wait_for


def fixed_story():
    t = Trace()
    t.request(user="kubernetes-admin", verb="create", resource="pods", namespace="default", name="web", code=201,
              latency_ms=2.0, revision=5)
    t.watch_event(user="system:kube-scheduler", resource="pods", type="ADDED", namespace="default", name="web",
                  revision=5)
    return build_story(t.records(), [ObjectRef("pods", "default", "web")])


def test_slider_controls_how_many_steps_are_drawn() -> None:
    tl = Timeline(story=fixed_story())
    assert repr(tl) == "Timeline(pods/default/web, steps=3, step=3)"
    assert tl.view.value.count('class="labkit-step"') == 3
    tl.slider.value = 1
    assert tl.view.value.count('class="labkit-step"') == 1
    assert tl.text().splitlines() == ["Timeline(pods/default/web, steps=3, step=1)",
                                      "  1    client -> apiserver create pods default/web -> 201 (kubernetes-admin)"]
    tl.step()
    assert tl.position == 2 and 'data-kind="store"' in tl.view.value
    tl.step_button.click()
    assert tl.position == 3 and 'stroke-dasharray="5 3"' in tl.view.value  # the watch arrow is dashed
    tl.step()
    assert tl.position == 3  # not past the end
    assert isinstance(tl.children[0].children[0], ipywidgets.Play) and tl.play.max == 3  # a story: no live button
    assert tl.live_button is None
    for lane in ("client", "apiserver", "etcd", "scheduler"):
        assert f">{lane}</text>" in tl.view.value
    # each step's whole line runs above its arrow, inside a diagram only as wide as its lanes
    assert ">1. create pods default/web -&gt; 201 (kubernetes-admin)</text>" in tl.view.value
    assert 'width="640"' in tl.view.value and 'style="overflow-x:auto"' in tl.view.value
    tl.close()


def test_live_timeline_follows_the_story_to_its_end(cluster: Cluster) -> None:
    tl = Timeline(cluster, "pod/web", live=True)
    assert tl.position == 0 and "no steps yet" in tl.view.value and "<b>live</b>" in tl.view.value
    create_pod(cluster, "web")
    wait_for(lambda: any(s.kind == "schedule" for s in tl.story.steps) and tl.position == len(tl.story.steps))
    assert tl.slider.max == tl.play.max == len(tl.story.steps) >= 6
    tl.close()


def test_a_timeline_is_the_story_up_to_its_moment(cluster: Cluster) -> None:
    """Later cells add nothing to a timeline shown under an earlier one, unless it is switched live."""
    create_pod(cluster, "web")
    wait_for(lambda: any(r.kind == "watch" and r.name == "web" for r in cluster.trace.records()))
    tl = Timeline(cluster, "pod/web")
    steps = len(tl.story.steps)
    assert "<b>snapshot</b>" in tl.view.value and f"{steps} steps so far" in tl.view.value
    client = cluster.client_for("kubernetes-admin", ["system:masters"], agent="kubectl")
    cluster.run(client.delete("/api/v1/namespaces/default/pods/web"))
    time.sleep(0.3)  # what a live timeline would have needed to redraw
    assert len(tl.story.steps) == steps and "delete pods" not in tl.view.value
    tl.live_button.value = True
    assert "delete pods" in tl.text()
    tl.close()
