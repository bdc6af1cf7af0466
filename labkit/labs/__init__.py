"""The course's exercises and recap questions, out of the notebooks' sight.

One module per notebook, named after its lesson (``api_server`` for 3.1, ``ha`` for 6.1 ...). Each
declares ``LESSON``, a :class:`~labkit.labs.lesson.Lesson`, and one function per exercise that
returns a :class:`labkit.exercises.Exercise` (its check, graded hints and solution live here: a
learner sees a solution only through ``ex.solution()``). :func:`lessons` finds every lesson, in the
course's order; :mod:`labkit.labs.progress` keeps what the learner did, :mod:`labkit.labs.proof`
checks that CI proved every exercise.
"""

from __future__ import annotations

import importlib
import pkgutil

from labkit.labs.lesson import Lesson

#: modules here that are machinery, not lessons (``common``: what several labs share)
MACHINERY = {"common", "lesson", "progress", "proof"}


def lessons() -> list[Lesson]:
    """Every lesson of the course, ordered by notebook path (chapter folder, then section)."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in MACHINERY:
            continue
        lesson = getattr(importlib.import_module(f"{__name__}.{info.name}"), "LESSON", None)
        if isinstance(lesson, Lesson):
            found.append(lesson)
    return sorted(found, key=lambda lesson: lesson.notebook)
