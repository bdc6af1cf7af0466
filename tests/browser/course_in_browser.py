"""Every course notebook, run in JupyterLab in headless Chromium as a learner runs it.

``make test-course`` runs this file by path (pytest collects a file named on its command line, and
only then: its name keeps it out of a plain ``pytest``) in place of nbval on the process runtime when
Chromium is here. So it makes every check that ``pytest --nbval-lax --nbval-cell-timeout=120`` makes:
each code cell runs in order (JupyterLab's ``notebook:run-cell`` command) and passes if it ends within
120 s with no error output and the kernel did not die or restart; nbval's markers (``# NBVAL_SKIP``,
``# NBVAL_RAISES_EXCEPTION`` and their tags, ``raises-exception``) mean what they mean to nbval.
Then, in the page: no ipywidgets view is left as an error or a placeholder ("Error displaying
widget", "model not found", "Loading widget..."), every labkit widget (``.labkit-widget``) has
content, the browser console has no errors and nothing outside 127.0.0.1 was requested. A notebook
stops at its first failing cell (nbval goes on, to cells that mostly fail for the same reason). Where
Chromium reported ``ERR_NETWORK_CHANGED``, the failure says so and what keeps it away (conftest.py:
Chromium in a network namespace of its own).

One JupyterLab page serves the whole course (it reloads only after a failing notebook); each
notebook is opened, run, screenshot, then its kernel is shut down and it is closed, as nbval shuts
each notebook's kernel down. The kernel sees this process's environment (``LABKIT_RUNTIME``,
``LABKIT_PROVE_EXERCISES``), as nbval's does. Each notebook's page is saved as
``artifacts/browser/<chapter>/<notebook>-<n>.png`` (consecutive 1400 x 2000 shots from the top),
pass or fail; CI keeps the folder.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
NOTEBOOKS = sorted(p.relative_to(ROOT / "course").as_posix() for p in (ROOT / "course").glob("*/*.ipynb"))
ARTIFACTS = ROOT / "artifacts" / "browser"
CELL_TIMEOUT = 120  # s, as nbval's --nbval-cell-timeout in the Makefile
SHOT = {"width": 1400, "height": 2000}
ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: JupyterLab has started
STARTED = "() => window.jupyterapp?.shell !== undefined"

#: and restored its layout (or 60 s went by)
RESTORED = """async () => await Promise.race([window.jupyterapp.restored,
    new Promise((_, reject) => setTimeout(() => reject(new Error('JupyterLab did not restore in 60 s')), 60000))])"""

#: open the notebook at ``path`` (the promise's widget stays in the page)
OPEN = "async (path) => { await window.jupyterapp.commands.execute('docmanager:open', {path}); }"

#: the notebook at ``path`` is open and its kernel idle
READY = """(path) => {
    const panel = window.jupyterapp?.shell.currentWidget;
    return panel?.context?.path === path && panel.sessionContext.session?.kernel?.status === 'idle';
}"""

#: from now on, record the kernel's statuses
WATCH = """() => {
    window.labkitStatuses = [];
    window.jupyterapp.shell.currentWidget.sessionContext.statusChanged.connect(
        (_, status) => window.labkitStatuses.push(status));
}"""

#: run one cell; settles when it ends or after the timeout
RUN_CELL = """async ([index, timeoutMs]) => {
    const app = window.jupyterapp, panel = app.shell.currentWidget, notebook = panel.content;
    notebook.activeCellIndex = index;
    notebook.deselectAll();
    const run = app.commands.execute('notebook:run-cell').then(ok => ({ok}), e => ({rejected: String(e)}));
    const timer = new Promise(resolve => setTimeout(() => resolve({timeout: true}), timeoutMs));
    const result = await Promise.race([run, timer]);
    const cell = notebook.widgets[index];
    result.outputs = cell.model.outputs.toJSON();
    result.executionCount = cell.model.executionCount;
    result.deaths = window.labkitStatuses.filter(s => ['dead', 'restarting', 'autorestarting'].includes(s));
    return result;
}"""

#: shut the notebook's kernel down and close the notebook, unsaved
CLOSE = """async () => {
    const panel = window.jupyterapp.shell.currentWidget;
    await panel.sessionContext.shutdown();
    panel.dispose();
}"""

INTERRUPT = "() => window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.interrupt()"

#: some ipywidgets view is still a placeholder
LOADING = """() => window.jupyterapp.shell.currentWidget.content.widgets.some(
    cell => cell.node.querySelector('.jp-OutputArea')?.textContent.includes('Loading widget'))"""

#: [cell index, problem] for every view that did not render
UNRENDERED = """() => {
    const problems = [];
    window.jupyterapp.shell.currentWidget.content.widgets.forEach((cell, index) => {
        const area = cell.node.querySelector('.jp-OutputArea');
        if (!area) return;
        for (const text of ['Error displaying widget', 'model not found', 'Failed to load model', 'Loading widget'])
            if (area.textContent.includes(text)) problems.push([index, `an ipywidgets view shows "${text}"`]);
        for (const w of area.querySelectorAll('.labkit-widget'))
            if (!w.textContent.trim() && !w.querySelector('svg, img, canvas'))
                problems.push([index, `the labkit widget ${w.className} is empty`]);
    });
    return problems;
}"""


def nbval_marks(cell: dict[str, Any]) -> set[str]:
    """nbval's markers on a cell, as its tags name them: a ``# NBVAL_SKIP`` comment line is ``nbval-skip``."""
    lines = [line.strip() for line in "".join(cell["source"]).splitlines()]
    marks = {line.lstrip("#").strip().lower().replace("_", "-") for line in lines if line.startswith("#")}
    marks = {m for m in marks if m.startswith("nbval-")}
    return marks | set(cell.get("metadata", {}).get("tags", []))


def first_line(cell: dict[str, Any]) -> str:
    return "".join(cell["source"]).strip().partition("\n")[0][:100]


def error_text(outputs: list[dict[str, Any]]) -> str:
    errors = [o for o in outputs if o.get("output_type") == "error"]
    return "\n".join(ANSI.sub("", "\n".join(e.get("traceback") or [f"{e.get('ename')}: {e.get('evalue')}"]))
                     for e in errors)


def screenshots(page: Any, path: str) -> list[Path]:
    """Shots of the notebook from the top, each the viewport's height, to ``artifacts/browser``."""
    folder = ARTIFACTS / Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(path).stem
    outer = "window.jupyterapp.shell.currentWidget.node.querySelector('.jp-WindowedPanel-outer')"
    step = page.evaluate(f"() => {outer}.clientHeight")
    end = page.evaluate(f"""() => {{  // the last cell's bottom, in the scrolled content (not the padding below)
        const outer = {outer}, last = window.jupyterapp.shell.currentWidget.content.widgets.at(-1).node;
        return last.getBoundingClientRect().bottom - outer.getBoundingClientRect().top + outer.scrollTop; }}""")
    shots = []
    for n, top in enumerate(range(0, max(int(end), 1), max(step, 1)), start=1):
        page.evaluate(f"(top) => {{ {outer}.scrollTop = top; }}", top)
        page.wait_for_timeout(100)
        shots.append(folder / f"{stem}-{n:02d}.png")
        page.screenshot(path=shots[-1])
    return shots


@pytest.fixture(scope="module", autouse=True)
def fresh_artifacts() -> None:
    """The folder holds this run's screenshots only."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)


#: Chromium aborts the requests in flight when an interface of its network namespace changes (Docker
#: adding a bridge or a pod's veth pair)
NETWORK_CHANGED = "ERR_NETWORK_CHANGED"


@pytest.mark.timeout(1800)  # per cell: CELL_TIMEOUT
@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_in_jupyterlab(course_lab: str, course_page: Any, path: str) -> None:
    failures, shots = run_notebook(course_lab, course_page, path)
    if any(NETWORK_CHANGED in f for f in failures):
        failures.append(f"Chromium saw this machine's network change ({NETWORK_CHANGED}: Docker adds and removes "
                        "interfaces): run this as root, whose Chromium gets a network namespace of its own, or run "
                        "it in one (unshare --net, then ip link set lo up), as .ci/unprivileged does")
    if failures:
        pytest.fail("\n".join(failures) + f"\n(screenshots: {shots[0].parent}/{Path(path).stem}-*.png)", pytrace=False)


def run_notebook(course_lab: str, page: Any, path: str) -> tuple[list[str], list[Path]]:
    """Run every cell of ``path`` in JupyterLab: what failed, and the screenshots."""
    page.console_errors.clear()
    page.blocked.clear()
    # JupyterLab loads for the first notebook, and again after a failing one
    if not page.url.startswith(course_lab) or getattr(page, "broken", False):
        page.set_viewport_size(SHOT)
        page.goto(f"{course_lab}/lab?reset", wait_until="domcontentloaded")
        page.wait_for_function(STARTED, timeout=60_000, polling=200)
        page.evaluate(RESTORED)
    page.broken = True  # until this notebook passes
    page.evaluate(OPEN, path)
    page.wait_for_function(READY, arg=path, timeout=60_000, polling=200)
    page.evaluate(WATCH)
    cells = json.loads((ROOT / "course" / path).read_text())["cells"]
    failures: list[str] = []
    try:
        for index, cell in enumerate(cells):
            marks = nbval_marks(cell)
            if cell["cell_type"] != "code" or "nbval-skip" in marks:
                continue
            if "nbval-check-output" in marks:  # nbval-lax compares these cells' outputs; this run cannot
                failures.append(f"{path}, cell {index} ({first_line(cell)!r}): NBVAL_CHECK_OUTPUT is not checked here")
                break
            start = time.monotonic()
            result = page.evaluate(RUN_CELL, [index, CELL_TIMEOUT * 1000])
            where = f"{path}, cell {index} ({first_line(cell)!r}, {time.monotonic() - start:.1f} s)"
            may_raise = bool(marks & {"raises-exception", "nbval-raises-exception"})
            if result.get("timeout"):
                page.evaluate(INTERRUPT)
                failures.append(f"{where}: still running after {CELL_TIMEOUT} s (interrupted)")
            elif result["deaths"]:
                failures.append(f"{where}: the kernel died (status {', '.join(result['deaths'])})")
            elif (errors := error_text(result["outputs"])) and not may_raise:
                failures.append(f"{where}: error output\n{errors}")
            elif "rejected" in result or result["executionCount"] is None or not (result.get("ok") or may_raise):
                failures.append(f"{where}: did not run ({result})")
            if failures:
                break
        if not failures:
            try:
                page.wait_for_function(f"() => !({LOADING})()", timeout=15_000, polling=250)
            except Exception:  # noqa: BLE001 - reported below as the views still loading
                pass
            failures += [f"{path}, cell {i} ({first_line(cells[i])!r}): {problem}"
                         for i, problem in page.evaluate(UNRENDERED)]
    finally:
        shots = screenshots(page, path)
        page.evaluate(CLOSE)
    failures += [f"{path}: browser console error: {e}" for e in page.console_errors]
    failures += [f"{path}: requested a URL outside 127.0.0.1: {u}" for u in page.blocked]
    page.broken = bool(failures)
    return failures, shots
