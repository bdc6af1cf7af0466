"""Operations per second of the store backends: put, range (one key, a prefix page), and a
compare-and-swap txn, as the API server issues them. Not a test; run it and read the numbers:

    .venv/bin/python -m benchmarks.store_ops [--keys N]   (from the repository root)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from labkit.store import Compare, Put, Store
from labkit.store.memory import MemoryStore
from labkit.store.sqlite import SQLiteStore


def rate(n: int, op: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(n):
        op(i)
    return n / (time.perf_counter() - start)


def measure(store: Store, keys: int) -> dict[str, float]:
    value = b'{"kind":"Pod","metadata":{"name":"p"}}' * 8
    key = [f"/registry/pods/ns{i % 10}/pod-{i}" for i in range(keys)]
    results = {"put (new key)": rate(keys, lambda i: store.put(key[i], value))}
    results["put (update)"] = rate(keys, lambda i: store.put(key[i], value))
    results["range key"] = rate(keys, lambda i: store.range(key[i]))
    namespace = [f"/registry/pods/ns{i}/" for i in range(10)]
    results["range prefix limit 50"] = rate(200, lambda i: store.range(namespace[i % 10], prefix=True, limit=50))

    def cas(i: int) -> None:
        current = store.range(key[i]).kvs[0]
        store.txn([Compare(key[i], "mod_revision", "==", current.mod_revision)], [Put(key[i], value)])

    results["txn CAS (get + txn)"] = rate(keys, cas)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        backends = {"memory": MemoryStore(), "sqlite": SQLiteStore(str(Path(tmp) / "bench.db"))}
        table = {}
        for name, store in backends.items():
            table[name] = measure(store, args.keys)
            store.close()
    print(f"{'ops/s':<24}" + "".join(f"{name:>12}" for name in table))
    for op in table["memory"]:
        print(f"{op:<24}" + "".join(f"{table[name][op]:>12,.0f}" for name in table))


if __name__ == "__main__":
    main()
