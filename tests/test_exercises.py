"""labkit.exercises: check results, hints and solutions hidden until asked, solve()."""

import json
from pathlib import Path

import pytest

from labkit import cli
from labkit.exercises import CheckResult, Exercise
from labkit.labs import lessons, progress, proof
from labkit.labs.lesson import Lesson, Question


def make(state: dict) -> Exercise:
    def check() -> list[str]:
        problems = []
        if state.get("replicas") != 3:
            problems.append(f"replicas is {state.get('replicas')!r}, want 3")
        if state.get("image") != "nginx":
            problems.append("image is not nginx")
        return problems

    return Exercise(
        "Scale up",
        """
        Set replicas to 3
        and image to nginx.
        """,
        check=check,
        hint="Two keys of `state`.",
        solution="""
            state["replicas"] = 3
            state["image"] = "nginx"
        """,
    )


def test_check_lists_exactly_what_is_still_wrong():
    state = {"replicas": 1}
    result = make(state).check()
    assert not result.ok and not result
    assert result.problems == ("replicas is 1, want 3", "image is not nginx")
    assert repr(result) == "✘ Scale up: 2 things still wrong\n  - replicas is 1, want 3\n  - image is not nginx"
    assert "<li>replicas is 1, want 3</li>" in result._repr_html_()
    state["image"] = "nginx"
    assert repr(make(state).check()) == "✘ Scale up: 1 thing still wrong\n  - replicas is 1, want 3"


def test_check_done():
    result = make({"replicas": 3, "image": "nginx"}).check()
    assert result.ok and result == CheckResult("Scale up")
    assert repr(result) == "✔ done: Scale up"
    assert "✔ done" in result._repr_html_()


def test_a_check_that_raises_is_reported_not_raised():
    ex = Exercise("Broken", "t", check=lambda: [][1], hint="h", solution="pass")
    result = ex.check()
    assert result.problems == ("the check could not run: IndexError: list index out of range",)


def test_solution_is_hidden_until_asked():
    ex = make({})
    shown = repr(ex) + ex._repr_markdown_() + repr(ex.hint()) + ex.hint()._repr_markdown_()
    assert "state[" not in shown
    assert repr(ex) == "Exercise: Scale up\nSet replicas to 3\nand image to nginx.\n(check() · hint() · solution())"
    assert repr(ex.hint()) == "Hint (Scale up):\nTwo keys of `state`."
    solution = ex.solution()
    assert repr(solution) == 'Solution (Scale up):\nstate["replicas"] = 3\nstate["image"] = "nginx"'
    assert solution._repr_markdown_().startswith("**Solution** (Scale up):\n\n```python\nstate[")


def test_solve_applies_the_solution_only_when_needed():
    state: dict = {}
    ex = make(state)
    namespace = {"state": state}
    assert ex.solve(namespace).ok
    assert state == {"replicas": 3, "image": "nginx"}

    state["marker"] = True  # already solved: solve() must not run the code again
    namespace["state"] = {}
    assert ex.solve(namespace).ok
    assert namespace["state"] == {}


def test_solve_waits_for_controllers_to_catch_up(monkeypatch):
    """A solution's writes show in the state a moment later (a controller follows them): solve()
    checks again until the check passes, and gives up after SETTLE_SECONDS with what is still wrong."""
    calls = []

    def lagging() -> list[str]:
        calls.append(1)
        return [] if len(calls) >= 4 else ["4 ready endpoints, not 5"]

    assert Exercise("Lag", "t", check=lagging, hint="h", solution="pass").solve({}).ok
    assert len(calls) == 4
    monkeypatch.setattr("labkit.exercises.SETTLE_SECONDS", 0.5)
    result = Exercise("Never", "t", check=lambda: ["still 4"], hint="h", solution="pass").solve({})
    assert result.problems == ("still 4",)


def test_hints_are_graded_one_more_per_call():
    ex = Exercise("Find it", "t", check=lambda: ["x"], solution="pass",
                  hint=["Look at the events.", "`kubectl describe pod web`, its Events.", "The image is misspelt."])
    assert repr(ex.hint()) == "Hint 1 of 3 (Find it):\nLook at the events."
    assert ex.hint()._repr_markdown_() == "**Hint 2 of 3** (Find it): `kubectl describe pod web`, its Events."
    assert repr(ex.hint()) == "Hint 3 of 3 (Find it):\nThe image is misspelt."
    assert repr(ex.hint()) == "Hint 3 of 3 (Find it):\nThe image is misspelt."  # the last stays
    assert repr(ex.hint(1)) == "Hint 1 of 3 (Find it):\nLook at the events."
    assert "3 hints, one per call" in ex._repr_markdown_()
    with pytest.raises(ValueError, match="ask for 1 to 3"):
        ex.hint(4)


def test_the_proof_fails_a_check_that_passes_unsolved(tmp_path, monkeypatch):
    proof = tmp_path / "not-yet" / "proof.jsonl"  # its folder is made
    monkeypatch.setenv("LABKIT_PROVE_EXERCISES", str(proof))
    state: dict = {}
    assert make(state).solve({"state": state}).ok
    record = json.loads(proof.read_text())
    assert record == {"lesson": "", "exercise": "Scale up", "solved": [],
                      "unsolved": ["replicas is None, want 3", "image is not nginx"]}
    with pytest.raises(AssertionError, match="passed before its solution ran"):
        make(state).solve({"state": state})


LESSON = Lesson("9.9", "9.9 · A test lesson", "09-test/9.9-test.ipynb", exercises={"scale": "Scale up"},
                questions=(Question("Which component binds pods to nodes?", ("the kubelet", "the scheduler"),
                                    "the scheduler", "The scheduler writes the binding; the kubelet runs it."),))


def test_progress_keeps_passes_solutions_and_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path))  # not the session's, which other tests write to
    state: dict = {}
    ex = LESSON.exercise("scale", "Set replicas to 3 and image to nginx.", check=make(state)._check,
                         hint="h", solution='state["replicas"] = 3\nstate["image"] = "nginx"')
    ex.check()
    assert progress.load().get("9.9") is None  # a failing check records nothing
    assert ex.solve({"state": state}).ok
    assert progress.load()["9.9"]["exercises"]["scale"]["status"] == "solution applied"
    ex.check()
    assert progress.load()["9.9"]["exercises"]["scale"]["status"] == "passed"
    ex.solve({"state": state})
    assert progress.load()["9.9"]["exercises"]["scale"]["status"] == "passed"  # never downgraded

    quiz = LESSON.quiz()
    assert repr(quiz) == ("Recap questions: 9.9 · A test lesson\n1. Which component binds pods to nodes?\n"
                          "   a) the scheduler\n   b) the kubelet")  # mixed by a hash, the same every run
    assert repr(quiz.answer(1, "the kubelet")) == \
        "✘ not quite (1): The scheduler writes the binding; the kubelet runs it."
    assert progress.load()["9.9"]["questions"]["1"]["right"] is False
    assert quiz.answer(1, "the scheduler").right
    assert progress.load()["9.9"]["questions"]["1"]["right"] is True
    with pytest.raises(ValueError, match="choices are: the kubelet, the scheduler"):
        quiz.answer(1, "etcd")
    assert (tmp_path / "progress.json").exists()


def test_right_answers_are_not_always_where_the_author_wrote_them():
    places = [q.shown().index(q.answer) for lesson in lessons() for q in lesson.questions]
    assert len(places) >= 60
    assert max(places.count(i) for i in set(places)) < len(places) / 2, places


def test_labkit_progress_lists_every_lesson(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path))
    progress.record_exercise("6.1", "takeover", "passed")
    progress.record_exercise("6.2", "quota", "solution applied")
    assert cli.main(["progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = {line.split()[0]: line for line in out}
    assert "1/2" in row["04-ha-security/6.1-high-availability.ipynb"]
    assert "0/2 (+1 from the solution)" in row["04-ha-security/6.2-performance-tuning.ipynb"]
    assert out[-1] == f"(kept in {tmp_path / 'progress.json'})"


def test_proof_names_every_exercise_not_proved():
    records = [{"lesson": "6.1", "exercise": "takeover", "unsolved": ["x"], "solved": []},
               {"lesson": "6.1", "exercise": "quorum", "unsolved": [], "solved": []}]
    verdict = {(lesson, key): v for lesson, key, v in proof.verdicts(records)}
    assert verdict[("6.1", "takeover")].startswith("proved")
    assert verdict[("6.1", "quorum")] == "NOT PROVED: its check passed on the unsolved state"
    assert verdict[("6.2", "quota")].startswith("NOT RUN")


def test_every_lesson_names_a_notebook_of_the_course():
    course = Path(__file__).parent.parent / "course"
    for lesson in lessons():
        assert (course / lesson.notebook).exists(), lesson
