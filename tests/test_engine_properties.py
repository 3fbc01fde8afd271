"""Property tests of the status engine: delivery order and link cuts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.protocol import (
    Capacity,
    CenterState,
    Heartbeat,
    LinkReport,
    Message,
    MessageKind,
    Probe,
    Resource,
)
from monitor.status.engine import EngineSettings, StatusEngine
from monitor.status.model import Snapshot, Status
from tests.federation_scenarios import INTERVAL, LINKS, WINDOW, Feed, sample_registry

REGISTRY = sample_registry()
CENTER_IDS = REGISTRY.center_ids()
RANK: dict[Status, int] = {
    "connected": 2,
    "degraded": 1,
    "stale": 1,
    "isolated": 0,
    "down": 0,
    "unreachable": 0,
}


def agent_messages(center: str, reachable: dict[str, bool], ends_offline: bool) -> list[Message]:
    """Two sessions of one agent in order, the first one ending in a will (a quick restart)."""
    out: list[Message] = []
    for session in (1, 2):
        out.append(
            Message(
                MessageKind.STATE,
                center,
                CenterState(
                    center=center,
                    status="online",
                    session=session,
                    ts=float(session),
                    heartbeat_interval_s=INTERVAL,
                ),
            )
        )
        for seq in range(1, 4):
            out.append(
                Message(MessageKind.HEARTBEAT, center, Heartbeat(session=session, seq=seq, ts=1.0))
            )
        for seq in (4, 5):
            probes = tuple(
                Probe(
                    peer=peer,
                    reachable=seq == 4 or reachable[peer],
                    rtt_s=0.001 * seq if (seq == 4 or reachable[peer]) else None,
                )
                for peer in REGISTRY.neighbours(center)
            )
            out.append(
                Message(
                    MessageKind.LINKS,
                    center,
                    LinkReport(session=session, seq=seq, ts=1.0, probes=probes),
                )
            )
        out.append(
            Message(
                MessageKind.CAPACITY,
                center,
                Capacity(session=session, seq=6, ts=1.0, gpus=Resource(total=4, available=session)),
            )
        )
        if session == 1 or ends_offline:
            out.append(
                Message(
                    MessageKind.STATE,
                    center,
                    CenterState(
                        center=center, status="offline", session=session, ts=1.0, reason="lost"
                    ),
                )
            )
    return out


def deliver(messages: list[Message]) -> Snapshot:
    """Feed messages 10 ms apart to a fresh engine; evaluate after its start-up grace."""
    engine = StatusEngine(REGISTRY, EngineSettings(), started_at=-WINDOW)
    for i, message in enumerate(messages):
        engine.ingest(message, 0.01 * i)
    return engine.evaluate(5.0)


def keep_state_order(original: list[Message], shuffled: list[Message]) -> list[Message]:
    """Restore MQTT's per-topic order for the first delivery of the state messages of one
    center and session (a redelivered duplicate may still come at any time)."""
    slots: dict[tuple[str, int], list[int]] = {}
    seen: set[int] = set()
    for i, message in enumerate(shuffled):
        if isinstance(message.payload, CenterState) and id(message) not in seen:
            seen.add(id(message))
            slots.setdefault((message.source, message.payload.session), []).append(i)
    result = list(shuffled)
    for (center, session), positions in slots.items():
        in_order = [
            m
            for m in original
            if isinstance(m.payload, CenterState)
            and m.source == center
            and m.payload.session == session
        ]
        for position, message in zip(positions, in_order, strict=True):
            result[position] = message
    return result


link_verdicts = st.fixed_dictionaries(
    {
        center: st.fixed_dictionaries({p: st.booleans() for p in REGISTRY.neighbours(center)})
        for center in CENTER_IDS
    }
)


@settings(max_examples=60, deadline=None)
@given(
    verdicts=link_verdicts,
    offline=st.sets(st.sampled_from(CENTER_IDS), max_size=3),
    data=st.data(),
)
def test_any_interleaving_ends_in_the_in_order_state(
    verdicts: dict[str, dict[str, bool]], offline: set[str], data: st.DataObject
) -> None:
    """Shuffled delivery with duplicates and a late will ends in the in-order statuses (and
    the same incidents)."""
    in_order = [m for c in CENTER_IDS for m in agent_messages(c, verdicts[c], c in offline)]
    shuffled = list(data.draw(st.permutations(in_order)))
    duplicates = data.draw(st.lists(st.sampled_from(in_order), max_size=15))
    for message in duplicates:
        shuffled.insert(data.draw(st.integers(0, len(shuffled))), message)
    shuffled = keep_state_order(in_order, shuffled)
    expected = deliver(in_order)
    actual = deliver(shuffled)
    assert {c: v.status for c, v in actual.centers.items()} == {
        c: v.status for c, v in expected.centers.items()
    }
    assert {k: v.state for k, v in actual.links.items()} == {
        k: v.state for k, v in expected.links.items()
    }
    assert {c: v.capacity for c, v in actual.centers.items()} == {
        c: v.capacity for c, v in expected.centers.items()
    }
    assert [i.finding for i in actual.incidents.values()] == [
        i.finding for i in expected.incidents.values()
    ]


@settings(max_examples=80, deadline=None)
@given(
    cut=st.sets(st.sampled_from(LINKS), max_size=4),
    silent=st.sets(st.sampled_from(CENTER_IDS), max_size=3),
    extra=st.sampled_from(LINKS),
)
def test_cutting_a_link_never_makes_a_center_more_connected(
    cut: set[tuple[str, str, float]], silent: set[str], extra: tuple[str, str, float]
) -> None:
    """One more cut link never raises a connected flag, nor a status unless the core shrank."""
    feed = Feed(REGISTRY)
    feed.cut = {frozenset(link[:2]) for link in cut}
    feed.silent = set(silent)
    before = feed.run(2 * WINDOW)
    feed.cut.add(frozenset(extra[:2]))
    after = feed.run(INTERVAL)
    for center, view in after.centers.items():
        old = before.centers[center]
        assert view.connected <= old.connected, center
        if after.core == before.core:
            assert RANK[view.status] <= RANK[old.status], center
