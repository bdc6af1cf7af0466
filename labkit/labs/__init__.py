"""The course's exercises that need more than a few lines: their checks and solutions live here, out
of the notebook's sight (a learner sees a solution only through ``ex.solution()``). One module per
notebook, named after its lesson; each function returns a :class:`labkit.exercises.Exercise`."""
