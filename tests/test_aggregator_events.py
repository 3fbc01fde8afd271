"""Each event (status, link, incident) is published once, however often the aggregator
re-evaluates."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from agents.protocol import (
    CenterState,
    Heartbeat,
    LinkReport,
    Message,
    MessageKind,
    Probe,
    RejectReason,
)
from monitor.registry import parse_registry
from monitor.service.aggregator import Aggregator
from monitor.status.model import IncidentEvent, LinkEvent, StatusEvent
from tests.aggregator_harness import NEIGHBOURS, SMALL_TOPOLOGY, aggregator_config

NOW = 1_800_000_000.0


def _born_federation(tmp_path: Path) -> Aggregator:
    aggregator = Aggregator(
        aggregator_config("mqtt://127.0.0.1:1", tmp_path / "unused.yaml"),
        parse_registry(SMALL_TOPOLOGY, "small"),
    )
    aggregator.engine.broker_restored(NOW - 100)
    for center in NEIGHBOURS:
        birth = CenterState(
            center=center, status="online", session=1, ts=NOW - 5, heartbeat_interval_s=5.0
        )
        aggregator.engine.ingest(Message(MessageKind.STATE, center, birth), NOW - 5)
    aggregator.evaluate(NOW - 5)
    return aggregator


def test_a_refused_message_does_not_republish_the_last_transitions(tmp_path: Path) -> None:
    """Re-evaluating after refused messages (no change) publishes no transition again."""
    aggregator = _born_federation(tmp_path)
    published = [e.seq for e in aggregator.events.recent()]
    assert published, "the births moved every center out of unknown"
    stale_beat = Heartbeat(session=0, seq=1, ts=NOW)
    for _ in range(5):
        reason = aggregator.engine.ingest(Message(MessageKind.HEARTBEAT, "ndc-a", stale_beat), NOW)
        assert reason is RejectReason.OLD_SESSION
        aggregator.evaluate(NOW - 4)
    assert [e.seq for e in aggregator.events.recent()] == published


def test_blind_deadlines_and_reconnects_publish_each_transition_once(tmp_path: Path) -> None:
    """Across a broker loss, deadlines while blind and a reconnect, every event seq is unique."""
    aggregator = _born_federation(tmp_path)
    engine = aggregator.engine
    engine.broker_lost(NOW - 3)
    for t in range(0, 60, 2):  # heartbeat windows expire while blind: deadlines, same snapshot
        aggregator.evaluate(NOW - 3 + t)
    engine.broker_restored(NOW + 60)
    for t in range(60, 200, 3):
        aggregator.evaluate(NOW + t)
    seqs = Counter(e.seq for e in aggregator.events.recent())
    assert seqs
    assert max(seqs.values()) == 1
    per_center: dict[str, str] = {}
    for event in aggregator.events.recent(types=("center",)):
        assert isinstance(event, StatusEvent)
        if event.center in per_center:
            assert event.old == per_center[event.center], "each event starts where the last ended"
        per_center[event.center] = event.new


def _report(aggregator: Aggregator, center: str, seq: int, at: float, cut: str = "") -> None:
    probes = tuple(
        Probe(peer=peer, reachable=False, loss_ratio=1.0)
        if peer == cut
        else Probe(peer=peer, reachable=True, rtt_s=0.004, loss_ratio=0.0)
        for peer in NEIGHBOURS[center]
    )
    report = LinkReport(session=1, seq=seq, ts=at, probes=probes)
    aggregator.engine.ingest(Message(MessageKind.LINKS, center, report), at)


def test_link_and_incident_events_are_published_once_across_value_refreshes(
    tmp_path: Path,
) -> None:
    """A cut link's event and its incident's are published once, however many later
    evaluations only refresh measured values (heartbeat times, RTTs)."""
    aggregator = _born_federation(tmp_path)
    for center in NEIGHBOURS:
        _report(aggregator, center, 1, NOW - 4)
    aggregator.evaluate(NOW - 4)
    _report(aggregator, "ndc-a", 2, NOW - 3, cut="prov-c")
    _report(aggregator, "prov-c", 2, NOW - 3, cut="ndc-a")
    aggregator.evaluate(NOW - 3)
    for i in range(10):
        at = NOW - 3 + 0.2 * (i + 1)
        for center in NEIGHBOURS:
            beat = Heartbeat(session=1, seq=10 + i, ts=at)
            aggregator.engine.ingest(Message(MessageKind.HEARTBEAT, center, beat), at)
        aggregator.evaluate(at)
    events = aggregator.events.recent()
    assert Counter(e.seq for e in events).most_common(1)[0][1] == 1
    cuts = [
        e
        for e in events
        if isinstance(e, LinkEvent) and (e.a, e.b) == ("ndc-a", "prov-c") and e.new == "down"
    ]
    opened = [e for e in events if isinstance(e, IncidentEvent) and e.change == "opened"]
    assert len(cuts) == 1
    assert cuts[0].incident is not None
    assert [e.incident for e in opened] == [cuts[0].incident]
