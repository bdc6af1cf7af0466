"""The balancer's choice per connection: round robin, and ClientIP affinity until its timeout
(``pkg/proxy/userspace/roundrobin.go``), on a clock the test moves."""

from __future__ import annotations

from labkit.proxy.roundrobin import RoundRobin

A, B = "10.0.0.1:80", "10.0.0.2:80"


def test_client_ip_affinity_lasts_until_the_client_is_idle_for_the_timeout() -> None:
    now = [0.0]
    rr = RoundRobin(clock=lambda: now[0])
    rr.update([A, B], client_ip_affinity=True, timeout=60)
    first = rr.next("c1")
    assert [rr.next("c1") for _ in range(5)] == [first] * 5
    assert rr.next("c2") != first  # another client takes the next endpoint
    now[0] += 59
    assert rr.next("c1") == first  # used again: the 60 s start over
    now[0] += 59
    assert rr.next("c1") == first
    now[0] += 60  # idle for the whole timeout: round robin chooses again (and moves on)
    turn = rr.index
    assert rr.next("c1") == rr.endpoints[turn] and rr.index == (turn + 1) % 2
    rr.update([A, B])  # affinity None: every connection takes the next endpoint
    assert {rr.next("c1") for _ in range(2)} == {A, B}
