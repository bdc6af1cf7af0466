"""etcd's cluster membership, as kubeadm changes it when a control-plane node joins or is reset.

Mirrors the calls of kubeadm's etcd client (``cmd/kubeadm/app/util/etcd/etcd.go``: ``ListMembers``,
``AddMemberAsLearner``, ``MemberPromote``, ``RemoveMember``) over etcd's ``Cluster`` service, which
the JSON gateway serves as ``POST /v3/cluster/member/{list,add,promote,remove}`` (ids are uint64s,
given as strings). A learner receives the log but does not vote, so adding one never costs the
cluster its quorum; it is promoted once it has caught up, which etcd refuses before then
(``can only promote a learner member which is in sync with leader``): :meth:`Membership.promote`
asks again until it succeeds, as kubeadm's does, and :meth:`Membership.remove` likewise while etcd
says the cluster would be unhealthy without the member. Left out: kubeadm's exponential backoff (a steady
interval here) and its retries of the other calls.
"""

from __future__ import annotations

import dataclasses
import ssl
import time
from collections.abc import Sequence
from typing import Any

from labkit.store import StoreError
from labkit.store._gateway import Gateway, GatewayError

#: how long a joining member has to be promoted and healthy (kubeadm's etcdHealthyCheckInterval x
#: etcdHealthyCheckRetries): what :meth:`Membership.promote` waits, and ``labkit join`` after it
HEALTHY_CHECK_TIMEOUT = 40.0
#: how long :meth:`Membership.remove` keeps asking (etcd's HealthInterval is 5 s)
REMOVE_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class Member:
    """One member as ``member list`` shows it; ``name`` and ``client_urls`` are empty until it has started."""

    id: str
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool

    @classmethod
    def from_json(cls, m: dict[str, Any]) -> Member:
        return cls(id=str(m.get("ID", "0")), name=m.get("name", ""), peer_urls=tuple(m.get("peerURLs", ())),
                   client_urls=tuple(m.get("clientURLs", ())), is_learner=bool(m.get("isLearner", False)))


class Membership:
    """The membership calls against the members at ``endpoints``, with a client certificate in ``context``."""

    def __init__(self, endpoints: Sequence[str], context: ssl.SSLContext, *, timeout: float = 10.0) -> None:
        self._gateway = Gateway(endpoints, context, timeout=timeout)

    def members(self) -> list[Member]:
        return [Member.from_json(m) for m in self._gateway.call("/v3/cluster/member/list", {}).get("members", [])]

    def add_learner(self, peer_url: str) -> tuple[Member, list[Member]]:
        """``member add --learner``: the new member and every member now (the new one without a name)."""
        answer = self._gateway.call("/v3/cluster/member/add", {"peerURLs": [peer_url], "isLearner": True})
        return Member.from_json(answer["member"]), [Member.from_json(m) for m in answer.get("members", [])]

    def _call_until(self, path: str, request: dict[str, Any], retry_on: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._gateway.call(path, request)
                return
            except GatewayError as e:
                if retry_on not in e.message or time.monotonic() > deadline:
                    raise
            time.sleep(0.2)

    def promote(self, member_id: str, timeout: float = HEALTHY_CHECK_TIMEOUT) -> None:
        """Make a learner a voting member, asking until it has caught up with the leader."""
        self._call_until("/v3/cluster/member/promote", {"ID": member_id}, "in sync with leader", timeout)

    def remove(self, member_id: str, timeout: float = REMOVE_TIMEOUT) -> None:
        """``member remove``; a member already gone is no error (``kubeadm reset`` run twice). etcd refuses
        to remove a voting member until the others have been connected for 5 s (``--strict-reconfig-check``,
        ``unhealthy cluster``): asked again until then."""
        try:
            self._call_until("/v3/cluster/member/remove", {"ID": member_id}, "unhealthy cluster", timeout)
        except GatewayError as e:
            if "member not found" not in e.message:
                raise

    def close(self) -> None:
        self._gateway.close()


def initial_cluster(members: Sequence[Member], name: str, peer_url: str) -> str:
    """``--initial-cluster`` for a member joining: every started member by its name, and the new one
    (not yet started, so nameless) by ``name`` (kubeadm's ``AddMember`` builds it so)."""
    pairs = [(name if url == peer_url else m.name, url) for m in members for url in m.peer_urls]
    if any(not n for n, _ in pairs):
        raise StoreError("an etcd member has not started yet: join one control-plane node at a time")
    return ",".join(f"{n}={url}" for n, url in pairs)
