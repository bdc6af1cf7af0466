"""Course notebooks are stored without outputs (the project's decision; CI runs them with nbval).

A stored output would go stale with the next labkit change and would be compared by nbval as if it
were the lesson; widget state (``metadata.widgets``) can run to megabytes. Strip with
``nbstripout`` or "Clear All Outputs" before committing.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

COURSE = Path(__file__).resolve().parent.parent / "course"
NOTEBOOKS = sorted(p for p in COURSE.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def leftovers(path: Path) -> list[str]:
    """What in the notebook at ``path`` should not be stored: outputs, execution counts, widget state."""
    nb = nbformat.read(path, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {i} has {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i} has execution_count {cell.execution_count}")
    if "widgets" in nb.metadata:
        found.append("notebook metadata holds widget state ('widgets')")
    return found


def test_the_course_has_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks under {COURSE}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(COURSE)) for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    assert leftovers(path) == []


def test_leftovers_are_found(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1", execution_count=3,
                                     outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "2"},
                                                                     execution_count=3)])
    nb.cells = [nbformat.v4.new_markdown_cell("# x"), cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    assert leftovers(path) == ["cell 1 has 1 output(s)", "cell 1 has execution_count 3",
                               "notebook metadata holds widget state ('widgets')"]
