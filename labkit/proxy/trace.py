"""The proxy's trace: one record per connection decision, for widgets and notebooks.

The userspace kube-proxy logged its choices at high verbosity; labkit keeps them as data on the
same bounded, thread-safe ring as the API trace (:class:`labkit.trace.Trace`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from labkit.trace import Trace

#: what happened to one attempt: forwarded to the endpoint, the dial failed (the next endpoint is
#: tried), no usable endpoint, or the endpoint is not an address labkit may send traffic to
OUTCOMES = ("proxied", "dial-failed", "no-endpoints", "refused")


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionRecord:
    seq: int
    t: float  # time.monotonic() of the decision
    service: str  # ServicePortName, "ns/name:port"
    client: str  # "ip:port" that connected
    frontend: str  # "ip:port" it connected to (ClusterIP:port or nodeAddress:nodePort)
    endpoint: str  # "ip:port" chosen ("" when there was none)
    outcome: str
    error: str = ""
    kind: str = "connection"


class ConnectionTrace(Trace):
    def connection(self, **fields: Any) -> ConnectionRecord:
        return self._add(ConnectionRecord, fields)
