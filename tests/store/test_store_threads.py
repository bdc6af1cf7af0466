"""Thread-safety smoke test: concurrent writers get distinct, gap-free revisions."""

from __future__ import annotations

import threading

from labkit.store import Compare, Put, Store


def test_concurrent_writers_get_exact_revisions(store: Store, recorder) -> None:
    threads, writes = 6, 150
    rec = recorder()
    store.watch("/t/", rec, prefix=True, start_revision=2)
    put_revisions: list[int] = []

    def writer(n: int) -> None:
        for i in range(writes):
            if i % 3:
                put_revisions.append(store.put(f"/t/{n}/{i % 5}", b"%d" % i).revision)
            else:  # an unconditional txn writing two keys: one revision
                result = store.txn([Compare(f"/t/{n}/x", "version", ">", -1)],
                                   [Put(f"/t/{n}/x", b"x"), Put(f"/t/{n}/y", b"y")])
                put_revisions.append(result.revision)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert store.revision == 1 + threads * writes
    assert sorted(put_revisions) == list(range(2, 2 + threads * writes))
    assert [batch[0].kv.mod_revision for batch in rec.batches] == list(range(2, 2 + threads * writes))
    assert store.range("/t/", prefix=True).count == threads * 7
