"""``GET pods/NAME/log``: a container's log as chunked ``text/plain``.

Mirrors ``pkg/registry/core/pod/rest/log.go`` (``LogREST``) with the kubelet's ``/containerLogs``
handler behind it: errors before the first byte are ``Status`` objects; once streaming, every chunk
the kubelet yields is written (and so flushed) at once, which is what ``kubectl logs -f`` needs. Left
out: ``sinceTime``, ``insecureSkipTLSVerifyBackend``, the log-stream selection (``stream=Stdout``).
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from labkit.apiserver import errors, handlers
from labkit.apiserver.streaming.kubelet_api import KubeletAPI, KubeletError
from labkit.apiserver.streaming.location import LogOptions, target


async def pod_log(kubelets: Mapping[str, KubeletAPI], req: web.Request, call: handlers.Call) -> web.StreamResponse:
    t = target(kubelets, call)
    opts = LogOptions.from_query(call.query, t.name)
    try:  # the kubelet's answer up to the first chunk decides between a Status and a 200
        chunks = t.kubelet.logs(t.namespace, t.name, t.container, follow=opts.follow, tail_lines=opts.tail_lines,
                                since_seconds=opts.since_seconds, timestamps=opts.timestamps,
                                previous=opts.previous, limit_bytes=opts.limit_bytes)
        first = await anext(chunks, b"")
    except KubeletError as e:
        raise errors.ApiError(e.code, e.reason, e.message) from None
    try:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(req)
        if first:
            await resp.write(first)
        async for chunk in chunks:
            await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        aclose = getattr(chunks, "aclose", None)  # an async generator: stop the kubelet's follow
        if aclose is not None:
            await aclose()
