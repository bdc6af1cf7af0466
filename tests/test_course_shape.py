"""The course as a learner meets it (issue 17): every notebook framed, numbered, and its exercises'
solutions out of sight.

Static checks of the stored notebooks against ``labkit.labs``: each notebook opens with what the
learner will be able to do, the time it takes and what it assumes, says what labkit simplifies,
and ends with a recap and its questions; every section of the article is a heading; no solution code
stands in a notebook; the chapters of troubleshooting labs and the capstone are there. Whether each
exercise's check fails unsolved and passes solved is proved when CI runs the course
(``LABKIT_PROVE_EXERCISES``, ``python -m labkit.labs.proof``).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from labkit.labs import lessons

COURSE = Path(__file__).resolve().parent.parent / "course"
NOTEBOOKS = sorted(p for p in COURSE.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
IDS = [str(p.relative_to(COURSE)) for p in NOTEBOOKS]
#: the article's sections (../shared/seed/OUTLINE.md)
SECTIONS = ["1", "1.1", "1.2", "1.3", "2", "2.1", "2.2", "2.3", "3.1", "3.2", "3.3", "3.4",
            "4.1", "4.2", "4.3", "4.4", "5.1", "5.2", "5.3", "6.1", "6.2", "6.3"]


def cells(path: Path) -> list[nbformat.NotebookNode]:
    return nbformat.read(path, as_version=4).cells


def markdown(path: Path) -> str:
    return "\n".join(c.source for c in cells(path) if c.cell_type == "markdown")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_framed(path: Path) -> None:
    first = cells(path)[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "the title comes first"
    assert "You will be able to" in first.source, "the opening says what the learner will be able to do"
    assert re.search(r"\*\*Time:\*\* about \d+ minutes", first.source), "the opening says how long it takes"
    assert "**Assumes:**" in first.source, "the opening says what it assumes"
    text = markdown(path)
    assert "> **What labkit simplifies here.**" in text, "a box says what labkit simplifies"
    assert re.search(r"^## Recap", text, re.M), "a recap closes the notebook"
    assert any(c.cell_type == "code" and "LESSON.quiz()" in c.source for c in cells(path)), "the recap questions"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_solution_stands_in_a_notebook(path: Path) -> None:
    for i, cell in enumerate(cells(path)):
        if cell.cell_type == "code":
            assert not re.search(r"\bsolution=", cell.source) and "Exercise(" not in cell.source, \
                f"cell {i} builds an exercise in plain view: exercises live in labkit.labs"


def test_every_notebook_has_a_lesson_with_questions() -> None:
    by_notebook = {lesson.notebook: lesson for lesson in lessons()}
    assert sorted(by_notebook) == IDS, "one labkit.labs LESSON per notebook"
    for lesson in by_notebook.values():
        assert 3 <= len(lesson.questions) <= 5, f"{lesson.id}: 3 to 5 recap questions"
        notebook = nbformat.reads((COURSE / lesson.notebook).read_text(), as_version=4)
        code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
        assert code.count(".solve(globals())") >= len(lesson.exercises), \
            f"{lesson.notebook}: a catch-up cell per exercise"


def test_every_section_of_the_article_is_a_heading() -> None:
    headings = {m.group(1) for p in NOTEBOOKS for m in re.finditer(r"^#+ (\d(?:\.\d)?)\b", markdown(p), re.M)}
    assert [s for s in SECTIONS if s not in headings] == []


def test_troubleshooting_labs_and_a_capstone() -> None:
    all_lessons = lessons()
    troubleshooting = [lesson for lesson in all_lessons if lesson.id.startswith("T")]
    assert len(troubleshooting) >= 4 or sum(len(t.exercises) for t in troubleshooting) >= 4
    assert any(lesson.id == "C" for lesson in all_lessons)
