"""The event correlator: what client-go's EventCorrelator makes of a component's events."""

from labkit.events import AGGREGATE_PREFIX, EventCorrelator

RS = {"kind": "ReplicaSet", "apiVersion": "apps/v1", "namespace": "default", "name": "web", "uid": "u1"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def event(message: str, *, reason: str = "SuccessfulCreate", ref: dict = RS) -> dict:
    return {"metadata": {"name": f"web.{message}", "namespace": "default"}, "involvedObject": dict(ref),
            "reason": reason, "message": message, "type": "Normal", "source": {"component": "replicaset-controller"},
            "count": 1, "firstTimestamp": "T0", "lastTimestamp": "T1", "reportingComponent": "replicaset-controller",
            "reportingInstance": ""}


def test_the_same_event_again_is_a_patch_of_its_count():
    c = EventCorrelator(Clock())
    first = c.correlate(event("Back-off restarting", reason="BackOff"))
    again = c.correlate(event("Back-off restarting", reason="BackOff"))
    assert first is not None and first.patch is None
    assert again is not None and again.event["metadata"]["name"] == first.event["metadata"]["name"]
    assert again.patch == {"count": 2, "lastTimestamp": "T1", "message": "Back-off restarting"}


def test_from_the_tenth_similar_message_one_combined_event_counts():
    c = EventCorrelator(Clock())
    written = [c.correlate(event(f"Created pod: web-{i}")) for i in range(12)]
    assert all(w is not None for w in written)
    assert [w.patch for w in written[:10]] == [None] * 10  # nine events and the combined one, created
    combined = written[9].event
    assert combined["message"] == AGGREGATE_PREFIX + "Created pod: web-9" and combined["count"] == 1
    assert written[11].event["metadata"]["name"] == combined["metadata"]["name"]
    assert written[11].patch == {"count": 3, "lastTimestamp": "T1", "message": AGGREGATE_PREFIX + "Created pod: web-11"}


def test_similar_messages_are_counted_apart_after_ten_minutes():
    clock = Clock()
    c = EventCorrelator(clock)
    for i in range(9):
        c.correlate(event(f"Created pod: web-{i}"))
    clock.now += 601
    fresh = c.correlate(event("Created pod: web-9"))
    assert fresh is not None and fresh.event["message"] == "Created pod: web-9"


def test_a_source_may_burst_25_events_about_an_object_then_one_every_five_minutes():
    clock = Clock()
    c = EventCorrelator(clock)
    reasons = [f"Reason{i}" for i in range(30)]
    written = [c.correlate(event("m", reason=r)) for r in reasons]
    assert sum(w is not None for w in written) == 25
    other = dict(RS, name="db", uid="u2")
    assert c.correlate(event("m", reason="Other", ref=other)) is not None  # another object has its own budget
    clock.now += 299
    assert c.correlate(event("m", reason="Late")) is None
    clock.now += 2
    assert c.correlate(event("m", reason="Later")) is not None
