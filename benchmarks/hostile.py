"""Ten thousand hostile requests to one API server, all of them, timed. Not a test; run it and read:

    .venv/bin/python benchmarks/hostile.py [--count N] [--seed S] [--quick]   (from the repository root)

The issue's goal: no answer ≥ 500 and no hang for 10,000 seeded hostile requests
(:mod:`labkit.testing.hostile`) sent through one keep-alive HTTPS connection, the server alive after
them. ``tests/e2e/test_hostile_requests.py`` sends the same; this also takes another count or seed and
prints how long they took, the answers by code, and each problem (the exit status is 1 when there is
one).
"""

from __future__ import annotations

import argparse
import json
import sys

from labkit import Cluster
from labkit.testing import hostile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="1,000 requests")
    args = parser.parse_args()
    count = 1_000 if args.quick else args.count
    with Cluster(nodes=1, runtime="sim", set_kubeconfig_env=False) as cluster:
        assert cluster.apiserver is not None
        pki = cluster.apiserver.pki.directory
        conn = hostile.Connection(cluster.url, pki / "ca.crt", pki / "admin.crt", pki / "admin.key")
        conn.send("POST", "/api/v1/namespaces", json.dumps({"metadata": {"name": "hostile"}}).encode())
        gen = hostile.Generator("hostile", seed=args.seed)
        for plural in gen.kinds:
            conn.send("POST", gen.collection(plural), json.dumps(gen.valid(plural)).encode())
        report = hostile.run(conn, gen, count)
        alive = conn.send("GET", "/readyz", content_type="")[0] == 200
    print(f"{report.sent} hostile requests (seed {args.seed}) in {report.elapsed:.1f} s, "
          f"{report.sent / report.elapsed:.0f}/s; server alive after: {alive}")
    print("answers by code:", dict(sorted(report.codes.items())))
    for line in report.problems:
        print(line)
    print(f"{len(report.problems)} problems")
    return 0 if alive and not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
