"""``python -m labkit.labs.proof FILE``: did CI prove every exercise of the course?

labkit's own. With ``LABKIT_PROVE_EXERCISES=FILE``, each notebook's catch-up cell (``ex.solve()``)
fails when its check passed on the unsolved state, and appends one line to FILE with the check's
problems before and after the solution. This reads FILE back against every lesson's declared
exercises, prints one line per exercise and exits 1 if any was not proved (never run, passed
unsolved, or still failing once solved).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from labkit.labs import lessons


def verdicts(records: list[dict[str, object]]) -> list[tuple[str, str, str]]:
    """(lesson, exercise, verdict) for each declared exercise; a verdict starting 'proved' is good."""
    seen = {(str(r["lesson"]), str(r["exercise"])): r for r in records}
    out = []
    for lesson in lessons():
        for key in lesson.exercises:
            record = seen.get((lesson.id, key))
            if record is None:
                verdict = "NOT RUN: no notebook solved it under the proof"
            elif not record["unsolved"]:
                verdict = "NOT PROVED: its check passed on the unsolved state"
            elif record["solved"]:
                verdict = f"NOT PROVED: still failing once solved: {record['solved']}"
            else:
                verdict = f"proved: failed unsolved ({len(record['unsolved'])} problem(s)), passed solved"  # type: ignore[arg-type]
            out.append((lesson.id, key, verdict))
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m labkit.labs.proof FILE (the file LABKIT_PROVE_EXERCISES named)", file=sys.stderr)
        return 2
    file = Path(args[0])
    records = [json.loads(line) for line in file.read_text().splitlines() if line.strip()] if file.exists() else []
    results = verdicts(records)
    for lesson, key, verdict in results:
        print(f"{lesson:>6} {key:<24} {verdict}")
    failed = [r for r in results if not r[2].startswith("proved")]
    print(f"{len(results) - len(failed)} of {len(results)} exercises proved to fail unsolved and pass solved")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
