"""LiveWidget: rendering, reprs, throttled refresh from other threads, following a trace, closing."""

from __future__ import annotations

import threading
import time

from labkit.trace import Trace
from labkit.widgets.base import LiveWidget, esc, table

from .conftest import wait_for


class Counter(LiveWidget):
    css_name = "counter"

    def __init__(self, **kwargs: object) -> None:
        self.collected = 0
        super().__init__(**kwargs)

    def collect(self) -> None:
        self.collected += 1

    def render(self) -> str:
        return f"<b>{self.collected}</b>"

    def summary(self) -> str:
        return f"Counter(collected={self.collected})"


def test_refresh_renders_into_the_html_child_and_reprs_follow() -> None:
    w = Counter()
    assert w.view.value == ""  # nothing rendered until refresh()
    w.refresh()
    assert w.view.value.endswith("<b>1</b>") and w.view.value.startswith("<style>")
    assert repr(w) == "Counter(collected=1)" == w.text()
    assert "labkit-counter" in w._dom_classes and "labkit-widget" in w._dom_classes
    bundle = w._repr_mimebundle_()
    assert bundle["text/plain"] == "Counter(collected=1)"
    assert "<b>1</b>" in bundle["text/html"] and 'class="labkit-widget labkit-counter"' in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    w.close()


def test_invalidations_are_throttled_to_max_rate() -> None:
    w = Counter()
    w.max_rate = 10
    start = time.monotonic()
    while time.monotonic() - start < 0.6:
        w.invalidate()
        time.sleep(0.005)
    wait_for(lambda: w.collected >= 1)
    time.sleep(0.25)
    # ~120 invalidations over 0.6 s: at most one refresh per 0.1 s (plus the last pending one)
    assert 3 <= w.collected <= 9
    w.close()


def test_follow_refreshes_on_matching_records_from_a_writer_thread_and_close_unsubscribes(capsys) -> None:
    trace = Trace()
    w = Counter()
    w.follow(trace, lambda r: r.verb == "create")
    writer = threading.Thread(target=lambda: trace.request(user="u", verb="get", resource="pods", namespace="d",
                                                           name="x", code=200, latency_ms=1.0))
    writer.start()
    writer.join()
    time.sleep(0.3)
    assert w.collected == 0  # the predicate filtered the get out
    trace.request(user="u", verb="create", resource="pods", namespace="d", name="x", code=201, latency_ms=1.0)
    wait_for(lambda: w.collected == 1)
    w.close()
    assert trace._subscribers == []
    trace.request(user="u", verb="create", resource="pods", namespace="d", name="y", code=201, latency_ms=1.0)
    time.sleep(0.3)
    assert w.collected == 1
    assert capsys.readouterr() == ("", "")  # nothing printed from any thread


def test_a_failing_refresh_does_not_stop_the_refresher() -> None:
    class Broken(Counter):
        def collect(self) -> None:
            raise RuntimeError("cluster stopped")

    broken, good = Broken(), Counter()
    broken.invalidate()
    time.sleep(0.2)
    good.invalidate()
    wait_for(lambda: good.collected == 1)
    broken.close()
    good.close()


def test_html_helpers_escape() -> None:
    assert esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert table(["a<"], [["<b>", 1]]) == ("<table><thead><tr><th>a&lt;</th></tr></thead><tbody><tr><td>&lt;b&gt;</td>"
                                          "<td>1</td></tr></tbody></table>")


def test_a_snapshot_ignores_invalidations_and_says_when_it_was_taken_until_it_goes_live() -> None:
    class Followed(Counter):
        def __init__(self, trace: Trace, **kwargs: object) -> None:
            self.trace = trace
            super().__init__(**kwargs)

        def sources(self) -> None:
            self.follow(self.trace)

    trace = Trace()
    w = Followed(trace, live=False, toggle=True)
    w.refresh()
    assert "<b>snapshot</b>as of " in w.view.value and "press <i>live</i>" in w.view.value
    assert trace._subscribers == []  # a snapshot follows nothing
    w.invalidate()
    time.sleep(0.3)
    assert w.collected == 1
    w.live_button.value = True  # the button: live, subscribed, redrawn
    assert w.live and len(trace._subscribers) == 1 and "<b>live</b>" in w.view.value and w.collected == 2
    trace.request(user="u", verb="create", resource="pods", namespace="d", name="x", code=201, latency_ms=1.0)
    wait_for(lambda: w.collected == 3)
    w.set_live(False)
    assert trace._subscribers == [] and w.live_button.value is False and "<b>snapshot</b>" in w.view.value
    w.close()
