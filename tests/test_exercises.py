"""labkit.exercises: check results, hints and solutions hidden until asked, solve()."""

from labkit.exercises import CheckResult, Exercise


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
