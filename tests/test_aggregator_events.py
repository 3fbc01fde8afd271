"""Each status transition is published once, however often the aggregator re-evaluates."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from agents.protocol import CenterState, Heartbeat, Message, MessageKind, RejectReason
from monitor.registry import parse_registry
from monitor.service.aggregator import Aggregator
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
    for event in aggregator.events.recent():
        if event.center in per_center:
            assert event.old == per_center[event.center], "each event starts where the last ended"
        per_center[event.center] = event.new
