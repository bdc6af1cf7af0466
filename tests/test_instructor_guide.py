"""The instructor's guide (``course/INSTRUCTOR.md``, issue 18) against the course it describes.

An instructor plans a day from its agendas and points learners at the headings it names: the
agendas' minutes must be the notebooks' own **Time:** lines and add up, every notebook must have
its row, and each key moment must name a heading the notebook really has.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from labkit.labs import lessons

COURSE = Path(__file__).resolve().parent.parent / "course"
GUIDE = (COURSE / "INSTRUCTOR.md").read_text(encoding="utf-8")
#: the notebooks an agenda row names: "3.1 · The API server", "4.1, 4.2, 4.3, 4.4", "capstone"
NOTEBOOK_IDS = re.compile(r"^((?:\d\.\d|\d|T\d|capstone)(?:, (?:\d\.\d|\d|T\d))*)(?: ·| \(|$)")


def notebooks() -> dict[str, Path]:
    """Lesson id ("1", "3.1", "T2", "C") → its notebook."""
    return {lesson.id: COURSE / lesson.notebook for lesson in lessons()}


def minutes(path: Path) -> int:
    first = nbformat.read(path, as_version=4).cells[0].source
    found = re.search(r"\*\*Time:\*\* about (\d+) minutes", first)
    assert found, path
    return int(found.group(1))


def headings(path: Path) -> list[str]:
    cells = nbformat.read(path, as_version=4).cells
    return [line.lstrip("#").strip() for c in cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if line.startswith("#")]


def bold_leads(path: Path) -> list[str]:
    """Paragraphs that open with a bold title (``**About the image.**``, the simplifications box)."""
    cells = nbformat.read(path, as_version=4).cells
    return [m for c in cells if c.cell_type == "markdown" for m in re.findall(r"\*\*([^*]+)\*\*", c.source)]


def section(title: str) -> str:
    """The text under the heading ``title``, up to the next heading of its level or higher."""
    level = title.split(" ")[0]
    start = GUIDE.index(f"\n{title}\n") + 1
    end = re.search(rf"^#{{1,{len(level)}}} ", GUIDE[start + len(title):], re.M)
    return GUIDE[start:start + len(title) + end.start()] if end else GUIDE[start:]


def table(text: str) -> list[list[str]]:
    rows = [line.strip().strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header


def clock(start: str) -> int:
    hours, mins = start.split(":")
    return int(hours) * 60 + int(mins)


def ids_of(what: str) -> list[str]:
    found = NOTEBOOK_IDS.match(what)
    return [] if not found else ["C" if i == "capstone" else i for i in found.group(1).split(", ")]


AGENDAS = ["### Half day (3 h 30)", "### One day (6 h 30, lunch not counted)",
           "### Two days (5 h 30 and 5 h, lunch not counted)"]


@pytest.mark.parametrize("title", AGENDAS)
def test_agenda_minutes_are_the_notebooks_and_add_up(title: str) -> None:
    rows = table(section(title))
    days: dict[str, list[list[str]]] = {}
    for row in rows:
        days.setdefault(row[0] if len(row) == 4 else "", []).append(row[-3:])
    stated = [int(h) * 60 + int(m or 0) for h, m in re.findall(r"(\d+) h(?: (\d+))?", title)]
    for (day, day_rows), length in zip(days.items(), stated, strict=True):
        at = 0
        for start, what, mins in day_rows:
            assert clock(start) == at, f"{title} day {day}: {what!r} starts at {start}, the rows before end at {at}"
            if mins == "–":  # lunch: not counted
                continue
            ids = ids_of(what)
            if ids:
                assert int(mins) == sum(minutes(notebooks()[i]) for i in ids), f"{title}: {what!r}"
            at += int(mins)
        assert at == length, f"{title} day {day}: rows add up to {at} min"


def test_total_time_is_the_notebooks() -> None:
    total = sum(minutes(path) for path in notebooks().values())
    assert f"**{total // 60} h {total % 60} min**" in GUIDE
    assert f"{len(notebooks())} notebooks" in GUIDE


def test_every_notebook_has_a_row_and_the_sections_it_names_are_there() -> None:
    rows = table(section("## Notebook by notebook"))
    by_id = {("C" if r[0] == "Capstone" else r[0].split(" · ")[0]): r for r in rows}
    assert sorted(by_id) == sorted(notebooks())
    everywhere = [h for path in notebooks().values() for h in headings(path) + bold_leads(path)]
    for lesson_id, (_, key_moment, _, answers) in by_id.items():
        moment = re.search(r"\*([^*]+)\*", key_moment)  # else named by what it shows
        if moment:
            assert any(moment.group(1) in h for h in headings(notebooks()[lesson_id])), \
                f"{lesson_id}: no heading {moment.group(1)!r}"
        for named in re.findall(r"\*([^*]+)\*", answers):
            assert any(named in h for h in everywhere), f"{lesson_id}: no section {named!r} in the course"


def test_capacity_section_has_the_benchmarks_columns() -> None:
    assert ("| runtime | idle 3-node cluster CPU % of a core | memory MB | one learner through 4.2: CPU s, "
            "peak MB | learners per core | learners per GB |") in section("## Capacity: what a learner costs")
