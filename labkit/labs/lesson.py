"""A lesson: one notebook's exercises and recap questions, and the learner's progress through them.

labkit's own (Kubernetes has nothing like it). Each module of :mod:`labkit.labs` declares one
``LESSON``: the notebook it belongs to, its exercises' keys and titles, and its recap questions (a
question, its choices, the right one and why). Exercises are built with :meth:`Lesson.exercise`, so
their outcomes reach the learner's progress; :meth:`Lesson.quiz` is the recap's widget, which says
right or wrong and why for each answer (auto-checked, not graded) and keeps the answer in the progress.
"""

from __future__ import annotations

import hashlib
import html
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets

from labkit.exercises import Check, Exercise
from labkit.labs import progress


@dataclass(frozen=True)
class Question:
    """A recap question: ``answer`` is one of ``choices``; ``why`` explains it (shown after any answer)."""

    ask: str
    choices: tuple[str, ...]
    answer: str
    why: str

    def __post_init__(self) -> None:
        if self.answer not in self.choices:
            raise ValueError(f"question {self.ask!r}: its answer {self.answer!r} is not among its choices")

    def shown(self) -> list[str]:
        """The choices in the order a learner sees them: mixed by a hash of the question, the same on
        every run, so where the author wrote the right answer gives nothing away."""
        return sorted(self.choices, key=lambda c: hashlib.sha256(f"{self.ask}\0{c}".encode()).digest())


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer."""

    number: int
    right: bool
    why: str

    def __repr__(self) -> str:
        return f"{'✔ right' if self.right else '✘ not quite'} ({self.number}): {self.why}"

    def _repr_html_(self) -> str:
        color = "#2e7d32" if self.right else "#c62828"
        verdict = "✔ right" if self.right else "✘ not quite"
        return f'<div style="color:{color}">{verdict}: {html.escape(self.why)}</div>'


@dataclass(frozen=True)
class Lesson:
    """One notebook's exercises (key → title) and recap questions; ``notebook`` is its path under course/."""

    id: str
    title: str
    notebook: str
    exercises: dict[str, str] = field(default_factory=dict)
    questions: tuple[Question, ...] = ()

    @property
    def lesson_id(self) -> str:
        return self.id

    def exercise(self, key: str, task: str, *, check: Check, hint: str | Sequence[str], solution: str) -> Exercise:
        if key not in self.exercises:
            raise KeyError(f"lesson {self.id} declares no exercise {key!r}")
        return Exercise(self.exercises[key], task, check=check, hint=hint, solution=solution, lesson=self, key=key)

    def record_exercise(self, key: str, status: str) -> None:
        progress.record_exercise(self.id, key, status)

    def quiz(self) -> Quiz:
        return Quiz(self)


class Quiz(ipywidgets.VBox):
    """The recap questions as radio buttons with a Check button each; ``answer(n, choice)`` does the
    same from code. The text repr lists the questions and their choices, never the answers."""

    def __init__(self, lesson: Lesson) -> None:
        self.lesson = lesson
        rows: list[ipywidgets.Widget] = []
        self._feedback: list[ipywidgets.HTML] = []
        for n, q in enumerate(lesson.questions, 1):
            choice = ipywidgets.RadioButtons(options=q.shown(), value=None,
                                             layout=ipywidgets.Layout(width="auto"))
            button = ipywidgets.Button(description="Check", layout=ipywidgets.Layout(width="auto"))
            feedback = ipywidgets.HTML()
            button.on_click(lambda _b, n=n, choice=choice: self._clicked(n, choice.value))
            self._feedback.append(feedback)
            rows += [ipywidgets.HTML(f"<b>{n}.</b> {html.escape(q.ask)}"), choice, button, feedback]
        super().__init__(children=rows)
        self.add_class("labkit-widget")
        self.add_class("labkit-quiz")

    def _clicked(self, number: int, choice: str | None) -> None:
        if choice is None:
            self._feedback[number - 1].value = "<i>pick an answer first</i>"
            return
        self._feedback[number - 1].value = self.answer(number, choice)._repr_html_()

    def answer(self, number: int, choice: str) -> Feedback:
        """Check ``choice`` for question ``number`` (from 1) and keep the answer in the progress."""
        if not 1 <= number <= len(self.lesson.questions):
            raise ValueError(f"{self.lesson.title} has questions 1 to {len(self.lesson.questions)}")
        q = self.lesson.questions[number - 1]
        if choice not in q.choices:
            raise ValueError(f"question {number}'s choices are: {', '.join(q.choices)}")
        right = choice == q.answer
        progress.record_answer(self.lesson.id, number, right)
        return Feedback(number, right, q.why)

    def __repr__(self) -> str:
        lines = [f"Recap questions: {self.lesson.title}"]
        for n, q in enumerate(self.lesson.questions, 1):
            lines.append(textwrap.fill(f"{n}. {q.ask}", 100, subsequent_indent="   "))
            lines += [f"   {chr(97 + i)}) {c}" for i, c in enumerate(q.shown())]
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)
        return bundle
