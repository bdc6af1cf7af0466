"""The widgets in a real browser: JupyterLab runs tests/browser/widgets_demo.ipynb in headless Chromium.

The notebook starts ``labkit.Cluster(nodes=2, seed=0)`` in its kernel and shows every labkit widget (the
control plane's on a second cluster, of three control-plane members);
this test runs all its cells through JupyterLab's command registry, then checks in the DOM that each
widget rendered (its ``labkit-<name>`` class and content), that the live updates sent after a widget
was displayed reached the page, that each view says whether it is a snapshot or live (and the stopped
cluster's control-plane view that it stopped), that every view fits its output area at JupyterLab's
default width and at a narrow one, that no cell failed, that JupyterLab did not ask to fetch news
(the course's settings), that nothing outside 127.0.0.1 was requested and that the browser console
has no errors.
"""

from __future__ import annotations

from typing import Any

NOTEBOOK = "widgets_demo.ipynb"
#: CSS class -> text that only a rendered, up-to-date view contains
WIDGETS = {
    "labkit-cluster-view": "default/demo",
    "labkit-timeline": "pods/default/demo",
    "labkit-scheduler-view": "node-2",
    "labkit-store-view": "/registry/pods/default/demo",
    "labkit-service-traffic": "web-b",
    "labkit-pod-lifecycle": "CrashLoopBackOff",
    "labkit-node-health": "NodeStatusUnknown",
    "labkit-control-plane": "DOWN",
    "labkit-resources": "(desired 6)",
    "labkit-network-view": "InternalIP",
}
#: CSS class -> how the view says what time it shows
WHEN = {"labkit-cluster-view": "snapshot", "labkit-timeline": "snapshot", "labkit-scheduler-view": "snapshot",
        "labkit-network-view": "snapshot", "labkit-store-view": "live", "labkit-pod-lifecycle": "live",
        "labkit-control-plane": "stopped"}


def test_every_widget_renders_in_jupyterlab(lab: str, browser_page: Any) -> None:
    page = browser_page
    page.goto(f"{lab}/lab/tree/{NOTEBOOK}?reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=30_000)
    page.wait_for_function(
        "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
        timeout=30_000)

    # the command's promise settles once the run ends: after the last cell, or at the first failing one
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    outputs = page.locator(".jp-OutputArea-output")
    failed = outputs.filter(has_text="Traceback").all_inner_texts()
    assert not failed, failed
    # every code cell has an execution count ("[n]:"), none is queued or running ("[*]:")
    page.wait_for_function(
        """() => { const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
                   return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)); }""",
        timeout=60_000)
    assert outputs.filter(has_text="labkit-demo-done").count() == 1  # the last cell's asserts passed
    for css_class, text in WIDGETS.items():  # live updates travel as comm messages: on a busy machine, late
        widget = page.locator(f".jp-OutputArea-output .{css_class}")
        widget.first.wait_for(timeout=30_000)
        try:
            page.wait_for_function(
                "([cls, text]) => [...document.querySelectorAll('.' + cls)].some(e => e.textContent.includes(text))",
                arg=[css_class, text], timeout=30_000)
        except Exception as e:
            raise AssertionError(f"{css_class} never showed {text!r}; it shows: "
                                 f"{widget.first.inner_text()[:500]!r}") from e
    for css_class, label in WHEN.items():
        assert page.locator(f".jp-OutputArea-output .{css_class} .labkit-when b").first.text_content() == label
    assert "the cluster has stopped: its last view" in page.locator(".labkit-control-plane").first.text_content()
    # every view fits its output area (what cannot wrap scrolls inside the view), wide and narrow
    for width in (1400, 1130):  # output areas of about 970 and 700 px
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(500)
        spilled = page.evaluate("""() => [...document.querySelectorAll('.jp-OutputArea-output .labkit-widget')]
            .filter(e => e.scrollWidth > e.closest('.jp-OutputArea-output').clientWidth)
            .map(e => e.className)""")
        assert spilled == [], (width, spilled)
    assert page.get_by_text("official Jupyter news").count() == 0
    assert page.get_by_text("Error displaying widget").count() == 0
    assert page.get_by_text("Failed to load model").count() == 0
    assert page.blocked == []
    assert page.console_errors == []
