"""The streaming pod subresources: ``log``, ``exec``, ``attach``, ``portforward``.

In Kubernetes, kube-apiserver checks the request (``pkg/registry/core/pod/rest``) and then proxies
it, upgraded connection and all, to the kubelet of the pod's node, whose streaming server speaks the
client protocols. labkit's API server speaks those protocols itself and calls the kubelet in-process
through :class:`KubeletAPI`. Layout:

- ``kubelet_api``: what the API server asks of a node's kubelet;
- ``location``: which pod, container and kubelet a request means; query options;
- ``logs``: chunked ``text/plain`` logs (``kubectl logs [-f]``);
- ``websocket``: the ``v4``/``v5.channel.k8s.io`` channel framing;
- ``spdy``: a server-side SPDY/3.1 session; ``upgrade``: taking over a connection after 101;
- ``remotecommand``: exec and attach over WebSocket or SPDY;
- ``portforward``: SPDY, SPDY tunnelled in a WebSocket, and the WebSocket channel protocol.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from labkit.apiserver.streaming.kubelet_api import KubeletAPI, KubeletError
from labkit.apiserver.streaming.logs import pod_log
from labkit.apiserver.streaming.portforward import portforward_handler
from labkit.apiserver.streaming.remotecommand import attach_handler, exec_handler

if TYPE_CHECKING:
    from labkit.apiserver.server import APIServer

__all__ = ["KubeletAPI", "KubeletError", "install"]


def install(apiserver: APIServer) -> None:
    """Serve the streaming subresources on ``apiserver``; kubelets register in ``apiserver.kubelets``."""
    kubelets = apiserver.kubelets
    for subresource, handler in (("log", pod_log), ("exec", exec_handler), ("attach", attach_handler),
                                 ("portforward", portforward_handler)):
        apiserver.connect_handlers[subresource] = functools.partial(handler, kubelets)
