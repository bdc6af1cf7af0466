"""Exercises for the course notebooks: a task, an automatic check, a hint and a hidden solution.

labkit's own (Kubernetes has nothing like it); the shape follows notebook graders such as Kaggle's
learntools and otter-grader, kept to what a chapter needs. A notebook declares one
:class:`Exercise`; the learner works in the cells below it and calls:

- ``ex.check()``: runs the check function, which returns what is still wrong (an empty list means
  done), and shows "✔ done" or that exact list. It never raises, so an unsolved exercise cannot break
  the cells after it; an exception inside the check is reported as one more thing still wrong;
- ``ex.hint()``: shows the hint;
- ``ex.solution()``: shows the solution's code, which appears nowhere else until asked for;
- ``ex.solve(globals())``: runs the solution in the notebook's namespace when the check still fails
  (and does nothing when it passes). Notebooks call it after the check so the rest of the chapter
  works whether or not the learner solved the exercise; CI runs the notebooks unsolved this way.

Everything these calls return is a small value with a deterministic ``text/plain`` repr (nbval
compares it) plus Markdown/HTML for Jupyter; nothing prints, so no text lands in the wrong cell.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Check = Callable[[], "list[str]"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: the exercise's title and what is still wrong (empty = done)."""

    title: str
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        if self.ok:
            return f"✔ done: {self.title}"
        noun = "thing" if len(self.problems) == 1 else "things"
        lines = [f"✘ {self.title}: {len(self.problems)} {noun} still wrong"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if self.ok:
            return (f'<div class="labkit-check labkit-check-ok" style="color:#2e7d32">'
                    f"✔ done: {html.escape(self.title)}</div>")
        items = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems)
        return (f'<div class="labkit-check labkit-check-todo" style="color:#c62828">'
                f"✘ {html.escape(self.title)}: still wrong<ul>{items}</ul></div>")


@dataclass(frozen=True)
class Reveal:
    """A hint or a solution, shown when asked for (``kind`` is "hint" or "solution")."""

    kind: str
    title: str
    body: str

    def __repr__(self) -> str:
        return f"{self.kind.capitalize()} ({self.title}):\n{self.body}"

    def _repr_markdown_(self) -> str:
        if self.kind == "solution":
            return f"**Solution** ({self.title}):\n\n```python\n{self.body}\n```"
        return f"**Hint** ({self.title}): {self.body}"


class Exercise:
    """One exercise. ``check`` returns the list of what is still wrong; ``solution`` is Python code
    that, run in the notebook's namespace, makes the check pass."""

    def __init__(self, title: str, task: str, *, check: Check, hint: str, solution: str) -> None:
        self.title = title
        self.task = textwrap.dedent(task).strip()
        self._check = check
        self._hint = textwrap.dedent(hint).strip()
        self._solution = textwrap.dedent(solution).strip()

    def check(self) -> CheckResult:
        """Run the check now; never raises (a failing check is reported as a problem)."""
        try:
            problems = tuple(str(p) for p in self._check())
        except Exception as exc:  # noqa: BLE001 - the learner's half-done state may break the check itself
            problems = (f"the check could not run: {type(exc).__name__}: {exc}",)
        return CheckResult(self.title, problems)

    def hint(self) -> Reveal:
        return Reveal("hint", self.title, self._hint)

    def solution(self) -> Reveal:
        return Reveal("solution", self.title, self._solution)

    def solve(self, namespace: dict[str, Any]) -> CheckResult:
        """Apply the solution in ``namespace`` (a notebook passes ``globals()``) unless the check
        already passes, then check again. The solution's code is not shown."""
        if not self.check().ok:
            exec(compile(self._solution, f"<solution: {self.title}>", "exec"), namespace)  # noqa: S102
        return self.check()

    def __repr__(self) -> str:
        return f"Exercise: {self.title}\n{self.task}\n(check() · hint() · solution())"

    def _repr_markdown_(self) -> str:
        return (f"**Exercise: {self.title}**\n\n{self.task}\n\n"
                "_Check your work with `.check()`; `.hint()` gives a hint and `.solution()` the answer._")
