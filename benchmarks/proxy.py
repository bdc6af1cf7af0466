"""What a userspace kube-proxy costs: connections and bytes through labkit's proxy vs straight to the backend.

    .venv/bin/python benchmarks/proxy.py [--quick]   (from the repository root)

The data path alone (:class:`labkit.proxy.userspace.PortProxy` with three endpoints, no API server):
the proxy runs on its own thread and event loop, as it does on a cluster's loop; the client on the
main thread. Everything is on loopback (backends on ``127.244.1.x``, the ClusterIP ``127.96.0.60``).

1. connection latency: connect, send a small request, read the reply, close; median and p99 over N
   sequential connections, direct to one backend and through the ClusterIP;
2. throughput: one connection sending M MiB and reading it back echoed (full duplex), direct and
   through the proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time

from labkit.network import LoopbackNetwork
from labkit.proxy import ConnectionTrace, ServicePortName
from labkit.proxy.userspace import PortProxy

BACKENDS = ["127.244.1.11", "127.244.1.12", "127.244.1.13"]
PORT, CLUSTER_IP, SERVICE_PORT = 9376, "127.96.0.60", 8080
CHUNK = 256 * 1024


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()
    writer.close()


def start_side(loop: asyncio.AbstractEventLoop) -> PortProxy:
    async def setup() -> PortProxy:
        for ip in BACKENDS:
            await asyncio.start_server(echo, ip, PORT)
        proxy = PortProxy(ServicePortName("default", "echo"), network=LoopbackNetwork(), trace=ConnectionTrace())
        proxy.balancer.update([f"{ip}:{PORT}" for ip in BACKENDS])
        await proxy.listen({(CLUSTER_IP, SERVICE_PORT)})
        return proxy
    return asyncio.run_coroutine_threadsafe(setup(), loop).result()


async def latency(host: str, port: int, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"ping\n")
        await reader.readexactly(5)
        writer.close()
        await writer.wait_closed()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


async def throughput(host: str, port: int, mib: int) -> float:
    reader, writer = await asyncio.open_connection(host, port)
    total = mib * 1024 * 1024
    block = b"x" * CHUNK

    async def send() -> None:
        for _ in range(total // CHUNK):
            writer.write(block)
            await writer.drain()
        writer.write_eof()

    t0 = time.perf_counter()
    sender = asyncio.create_task(send())
    got = 0
    while got < total:
        got += len(await reader.read(CHUNK))
    await sender
    writer.close()
    return mib / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, mib = (200, 64) if args.quick else (2000, 512)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    proxy = start_side(loop)

    async def measure() -> None:
        direct = await latency(BACKENDS[0], PORT, n)
        proxied = await latency(CLUSTER_IP, SERVICE_PORT, n)
        print(f"connection latency, {n} sequential connections (ms)")
        print(f"  {'':8} {'median':>8} {'p99':>8}")
        for label, s in (("direct", direct), ("proxied", proxied)):
            print(f"  {label:8} {statistics.median(s):8.3f} {statistics.quantiles(s, n=100)[98]:8.3f}")
        d, p = await throughput(BACKENDS[0], PORT, mib), await throughput(CLUSTER_IP, SERVICE_PORT, mib)
        print(f"throughput, {mib} MiB echoed over one connection (MiB/s)")
        print(f"  direct   {d:8.1f}\n  proxied  {p:8.1f}  ({p / d:.0%} of direct)")

    asyncio.run(measure())
    records = proxy.trace.records()
    print(f"trace: {len(records)} decisions, endpoints used: "
          + ", ".join(f"{e} x{sum(r.endpoint == e for r in records)}" for e in sorted({r.endpoint for r in records})))
    loop.call_soon_threadsafe(loop.stop)


if __name__ == "__main__":
    main()
