"""Wire protocol v1: round-trips, rejections with reasons, forward compatibility."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents import protocol
from agents.protocol import (
    Capacity,
    CenterState,
    Heartbeat,
    LinkReport,
    MessageKind,
    Probe,
    ProtocolError,
    RejectReason,
    Resource,
)

center_ids = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")
counters = st.integers(min_value=0, max_value=2**53)
timestamps = st.floats(min_value=0, max_value=4e9, allow_nan=False)
amounts = st.floats(min_value=0, max_value=1e18, allow_nan=False)
resources = st.builds(Resource, total=amounts, available=amounts)
probes = st.builds(
    Probe,
    peer=center_ids,
    reachable=st.booleans(),
    rtt_s=st.none() | st.floats(min_value=0, max_value=10, allow_nan=False),
    loss_ratio=st.none() | st.floats(min_value=0, max_value=1, allow_nan=False),
)


def roundtrip(center: str, kind: MessageKind, payload: protocol.Payload) -> protocol.Message:
    """Encode then decode through the public API."""
    return protocol.decode(protocol.center_topic(center, kind), protocol.encode(payload))


@given(center_ids, counters, st.floats(min_value=0.01, max_value=3600), timestamps)
def test_birth_roundtrips(center: str, session: int, interval: float, ts: float) -> None:
    """A birth decodes to exactly what the agent encoded, with its kind and center."""
    birth = CenterState(
        center=center,
        status="online",
        session=session,
        heartbeat_interval_s=interval,
        agent="dcmon-agent/0.1",
        ts=ts,
    )
    message = roundtrip(center, MessageKind.STATE, birth)
    assert message.payload == birth
    assert (message.kind, message.source) == (MessageKind.STATE, center)


@given(center_ids, counters, counters, timestamps)
def test_heartbeat_roundtrips(center: str, session: int, seq: int, ts: float) -> None:
    """A heartbeat survives the wire unchanged."""
    beat = Heartbeat(session=session, seq=seq, ts=ts)
    assert roundtrip(center, MessageKind.HEARTBEAT, beat).payload == beat


@given(center_ids, counters, counters, st.none() | resources, st.none() | resources)
def test_capacity_roundtrips(
    center: str, session: int, seq: int, cpu: Resource | None, gpus: Resource | None
) -> None:
    """Capacity with any subset of resources survives the wire unchanged."""
    report = Capacity(session=session, seq=seq, ts=1.0, cpu_cores=cpu, gpus=gpus)
    assert roundtrip(center, MessageKind.CAPACITY, report).payload == report


@given(center_ids, counters, counters, st.lists(probes, max_size=20).map(tuple))
def test_links_roundtrip(center: str, session: int, seq: int, found: tuple[Probe, ...]) -> None:
    """Link reports with any probes survive the wire unchanged."""
    report = LinkReport(session=session, seq=seq, ts=2.5, probes=found)
    assert roundtrip(center, MessageKind.LINKS, report).payload == report


@given(st.text(max_size=70).filter(lambda s: not protocol.is_valid_center_id(s)))
def test_invalid_center_ids_never_reach_a_topic(bad: str) -> None:
    """Any id outside the pattern is refused before it becomes a topic."""
    with pytest.raises(ProtocolError) as info:
        protocol.center_topic(bad, MessageKind.HEARTBEAT)
    assert info.value.reason is RejectReason.BAD_CENTER_ID


@pytest.mark.parametrize(
    "bad", ["+", "#", "a/b", "Hub", "-hub", "hub\n", "hub\u2010north", "\u0430bc", "a" * 64]
)
def test_wildcards_slashes_and_lookalikes_are_rejected_in_topics(bad: str) -> None:
    """Wildcards, slashes, capitals, newlines and unicode look-alikes are bad center ids."""
    with pytest.raises(ProtocolError) as info:
        protocol.decode(f"dcmon/v1/centers/{bad}/heartbeat", b'{"v":1,"session":1,"seq":1,"ts":1}')
    assert info.value.reason in (RejectReason.BAD_CENTER_ID, RejectReason.BAD_TOPIC)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", RejectReason.MALFORMED_JSON),
        (b"\xff\xfe", RejectReason.MALFORMED_JSON),
        (b"[1, 2]", RejectReason.WRONG_TYPE),
        (b'{"v":1,"session":"one","seq":1,"ts":1}', RejectReason.WRONG_TYPE),
        (b'{"v":1,"session":1,"seq":-1,"ts":1}', RejectReason.WRONG_TYPE),
        (b'{"v":1,"session":1,"seq":true,"ts":1}', RejectReason.WRONG_TYPE),
        (b'{"v":1,"seq":1,"ts":1}', RejectReason.WRONG_TYPE),
        (b'{"v":2,"session":1,"seq":1,"ts":1}', RejectReason.UNSUPPORTED_VERSION),
        (b'{"v":1,"session":1,"seq":1,"ts":1,"center":"hub-south"}', RejectReason.CENTER_MISMATCH),
    ],
)
def test_bad_heartbeats_are_rejected_with_a_reason(payload: bytes, reason: RejectReason) -> None:
    """Malformed JSON, wrong types, bad versions and spoofed ids each get their own reason."""
    with pytest.raises(ProtocolError) as info:
        protocol.decode("dcmon/v1/centers/hub-north/heartbeat", payload)
    assert info.value.reason is reason


def test_oversized_payload_is_rejected_before_parsing() -> None:
    """A payload over 64 KiB is refused as too large, even if it is valid JSON."""
    body = json.dumps({"v": 1, "session": 1, "seq": 1, "ts": 1, "pad": "x" * 70_000}).encode()
    with pytest.raises(ProtocolError) as info:
        protocol.decode("dcmon/v1/centers/hub-north/heartbeat", body)
    assert info.value.reason is RejectReason.TOO_LARGE


def test_unknown_fields_are_ignored_and_integers_accepted_as_numbers() -> None:
    """Forward compatible: extra fields are ignored; integers are fine as numbers."""
    body = b'{"v":1,"session":7,"seq":3,"ts":1700000000,"future":{"x":1},"probes":[{"peer":"b",'
    body += b'"reachable":true,"rtt_s":0,"loss_ratio":0,"jitter_s":0.1}]}'
    message = protocol.decode("dcmon/v1/centers/a/links", body)
    assert isinstance(message.payload, LinkReport)
    assert message.payload.probes == (Probe(peer="b", reachable=True, rtt_s=0.0, loss_ratio=0.0),)


def test_unreached_probe_may_omit_rtt_and_defaults_to_full_loss() -> None:
    """An unreachable probe with no rtt_s and no loss_ratio counts as 100 % loss."""
    body = b'{"v":1,"session":7,"seq":3,"ts":1,"probes":[{"peer":"b","reachable":false}]}'
    message = protocol.decode("dcmon/v1/centers/a/links", body)
    assert isinstance(message.payload, LinkReport)
    assert message.payload.probes[0].rtt_s is None
    assert message.payload.probes[0].effective_loss == 1.0


def test_birth_without_interval_and_bad_peer_ids_are_rejected() -> None:
    """A birth must announce its heartbeat interval; probe peers must be valid ids."""
    with pytest.raises(ProtocolError) as info:
        protocol.decode(
            "dcmon/v1/centers/a/state", b'{"v":1,"center":"a","status":"online","session":1,"ts":1}'
        )
    assert info.value.reason is RejectReason.WRONG_TYPE
    with pytest.raises(ProtocolError) as info:
        protocol.decode(
            "dcmon/v1/centers/a/links",
            b'{"v":1,"session":1,"seq":1,"ts":1,"probes":[{"peer":"B/#","reachable":true}]}',
        )
    assert info.value.reason is RejectReason.BAD_CENTER_ID


@pytest.mark.parametrize(
    "topic",
    ["dcmon/v2/centers/a/state", "dcmon/v1/centers/a/status", "dcmon/v1/centers/a", "other/x"],
)
def test_unknown_topics_are_rejected(topic: str) -> None:
    """Only the v1 topics are accepted."""
    with pytest.raises(ProtocolError) as info:
        protocol.decode(topic, b"{}")
    assert info.value.reason is RejectReason.BAD_TOPIC


def test_aggregator_state_roundtrips() -> None:
    """The aggregator's own birth uses its own topic and must name itself."""
    state = protocol.AggregatorState(aggregator="agg-1", status="online", session=5, ts=3.0)
    message = protocol.decode(protocol.aggregator_topic("agg-1"), protocol.encode(state))
    assert message.kind is MessageKind.AGGREGATOR_STATE
    assert message.payload == state
