"""Wire protocol v1: round-trips, rejections with reasons, forward compatibility."""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import HealthCheck, assume, given, settings
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


# --- hostile input: nesting, encoding, integer bounds, fuzzing ----------------------------------

HEARTBEAT_TOPIC = "dcmon/v1/centers/hub-north/heartbeat"
NESTING_BOMB = b'{"x":' + b"[" * 1000 + b"]" * 1000 + b"}"
ALL_TOPICS = [
    *(
        protocol.center_topic("hub-north", kind)
        for kind in MessageKind
        if kind is not MessageKind.AGGREGATOR_STATE
    ),
    protocol.aggregator_topic("hub-north"),
]
BEAT = b'{"v":1,"session":1,"seq":1,"ts":1,"center":"hub-north"'


def nested(levels: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    """A heartbeat whose unknown field ``x`` nests ``levels`` deep, the payload counting as 1."""
    inner = levels - 1
    return BEAT + b',"x":' + opener * inner + b"0" + closer * inner + b"}"


@pytest.mark.parametrize("topic", ALL_TOPICS)
def test_the_nesting_bomb_of_issue_10_is_rejected_as_too_deep(topic: str) -> None:
    """An object nested 1000 deep in an unknown field is refused as too_deep, not a crash."""
    with pytest.raises(ProtocolError) as info:
        protocol.decode(topic, NESTING_BOMB)
    assert info.value.reason is RejectReason.TOO_DEEP


@pytest.mark.parametrize(("opener", "closer"), [(b"[", b"]"), (b'{"k":', b"}"), (b"[0,", b"]")])
def test_nesting_is_accepted_up_to_32_levels_and_rejected_beyond(
    opener: bytes, closer: bytes
) -> None:
    """Arrays and objects may nest 32 deep (the payload object is level 1); 33 is too deep."""
    assert protocol.decode(HEARTBEAT_TOPIC, nested(protocol.MAX_NESTING, opener, closer))
    with pytest.raises(ProtocolError) as info:
        protocol.decode(HEARTBEAT_TOPIC, nested(protocol.MAX_NESTING + 1, opener, closer))
    assert info.value.reason is RejectReason.TOO_DEEP


@pytest.mark.parametrize(
    "text", [b"[" * 100, b"{" * 100 + b"]" * 100, b'\\"' + b"[" * 100, b"\\\\" + b"]" * 100]
)
def test_brackets_inside_strings_do_not_count_as_nesting(text: bytes) -> None:
    """Brackets in a string value, escaped quotes and backslashes included, are just text."""
    message = protocol.decode(HEARTBEAT_TOPIC, BEAT + b',"note":"' + text + b'"}')
    assert isinstance(message.payload, Heartbeat)


def test_an_unclosed_deep_payload_is_too_deep_and_a_stray_closer_malformed() -> None:
    """Deep nesting is refused even when the payload is cut off; a bracket closing nothing is
    malformed JSON."""
    with pytest.raises(ProtocolError) as info:
        protocol.decode(HEARTBEAT_TOPIC, BEAT + b',"x":' + b"[" * 1000)
    assert info.value.reason is RejectReason.TOO_DEEP
    with pytest.raises(ProtocolError) as info:
        protocol.decode(HEARTBEAT_TOPIC, BEAT + b',"x":' + b"[]]" * 40 + b"}")
    assert info.value.reason is RejectReason.MALFORMED_JSON


@pytest.mark.parametrize("limit", [200, 1000, 100_000])
def test_the_nesting_limit_does_not_depend_on_the_recursion_limit(limit: int) -> None:
    """Whatever the interpreter's recursion limit, 32 levels decode and 1000 are too deep."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        assert protocol.decode(HEARTBEAT_TOPIC, nested(protocol.MAX_NESTING))
        with pytest.raises(ProtocolError) as info:
            protocol.decode(HEARTBEAT_TOPIC, nested(1000))
    finally:
        sys.setrecursionlimit(before)
    assert info.value.reason is RejectReason.TOO_DEEP


@pytest.mark.parametrize("topic", ALL_TOPICS)
@pytest.mark.parametrize("junk", [b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"])
def test_non_utf8_bytes_in_an_unknown_field_are_malformed_json(topic: str, junk: bytes) -> None:
    """Invalid UTF-8 (bad bytes, cut sequences, encoded surrogates, beyond U+10FFFF) anywhere
    in the payload, even in a field the decoder would skip, is malformed JSON."""
    body = b'{"v":1,"note":"' + junk + b'","session":1,"seq":1,"ts":1}'
    with pytest.raises(ProtocolError) as info:
        protocol.decode(topic, body)
    assert info.value.reason is RejectReason.MALFORMED_JSON


def test_non_ascii_utf8_in_an_unknown_field_is_fine() -> None:
    """Valid UTF-8 text beyond ASCII in an unknown field is accepted (and ignored)."""
    body = BEAT + ',"note":"Đà Nẵng 🛰"}'.encode()
    assert isinstance(protocol.decode(HEARTBEAT_TOPIC, body).payload, Heartbeat)


COUNTER_FIELDS = [
    ("heartbeat", "session", b'{"v":1,"session":%d,"seq":1,"ts":1}'),
    ("heartbeat", "seq", b'{"v":1,"session":1,"seq":%d,"ts":1}'),
    ("capacity", "seq", b'{"v":1,"session":1,"seq":%d,"ts":1}'),
    ("links", "session", b'{"v":1,"session":%d,"seq":1,"ts":1}'),
    ("state", "session", b'{"center":"a","status":"offline","session":%d,"ts":1}'),
    (
        "state",
        "connection",
        b'{"center":"a","status":"offline","session":1,"ts":1,"connection":%d}',
    ),
]


@pytest.mark.parametrize(("leaf", "field", "template"), COUNTER_FIELDS)
def test_counters_are_accepted_up_to_2_63_minus_1_and_rejected_from_2_63(
    leaf: str, field: str, template: bytes
) -> None:
    """session, seq and connection may be 0 .. 2**63 - 1; 2**63 and beyond are wrong_type."""
    topic = f"dcmon/v1/centers/a/{leaf}"
    for value in (0, 2**63 - 1):
        assert getattr(protocol.decode(topic, template % value).payload, field) == value
    for value in (2**63, 2**64, 10**40, -1):
        with pytest.raises(ProtocolError) as info:
            protocol.decode(topic, template % value)
        assert info.value.reason is RejectReason.WRONG_TYPE


def test_aggregator_session_is_bounded_like_a_center_session() -> None:
    """An aggregator's session is a counter too: 2**63 is refused."""
    body = b'{"aggregator":"agg-1","status":"online","session":%d,"ts":1}'
    topic = protocol.aggregator_topic("agg-1")
    assert protocol.decode(topic, body % (2**63 - 1))
    with pytest.raises(ProtocolError) as info:
        protocol.decode(topic, body % 2**63)
    assert info.value.reason is RejectReason.WRONG_TYPE


@given(session=counters, connection=st.integers(min_value=0, max_value=2**63 - 1))
def test_connection_roundtrips_in_birth_and_will(session: int, connection: int) -> None:
    """The optional connection number survives the wire in a birth and in a will."""
    birth = CenterState(
        center="hub-north",
        status="online",
        session=session,
        ts=1.0,
        heartbeat_interval_s=5.0,
        connection=connection,
    )
    will = CenterState(
        center="hub-north",
        status="offline",
        session=session,
        ts=1.0,
        reason="lost",
        connection=connection,
    )
    for state in (birth, will):
        assert roundtrip("hub-north", MessageKind.STATE, state).payload == state


def test_a_state_without_connection_is_what_old_agents_send() -> None:
    """Absent connection decodes as None, and a state without one is encoded without the key."""
    old = b'{"v":1,"center":"a","status":"online","session":1,"heartbeat_interval_s":5,"ts":1}'
    payload = protocol.decode("dcmon/v1/centers/a/state", old).payload
    assert isinstance(payload, CenterState)
    assert payload.connection is None
    assert b"connection" not in protocol.encode(payload)


# Fuzzing: whatever arrives, decode returns a Message or raises ProtocolError with a reason.

FIELD_NAMES = [
    "v", "center", "aggregator", "status", "session", "seq", "ts", "connection", "reason",
    "heartbeat_interval_s", "probe_interval_s", "agent", "cpu_cores", "gpus", "memory_bytes",
    "storage_bytes", "total", "available", "probes", "peer", "reachable", "rtt_s", "loss_ratio",
]  # fmt: skip
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), 2**64, 10**400])
    | st.floats()
    | st.text(max_size=20)
    | st.integers(min_value=0, max_value=70_000).map(lambda n: "x" * n)
    | st.sampled_from(["hub-north", "online", "offline", "lost", "[[[", "\\", '"'])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=40,
)
json_objects = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), json_values)


def to_wire(value: object, ensure_ascii: bool) -> bytes:
    """JSON as a careless sender might write it: NaN allowed, lone surrogates passed through."""
    return json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


@st.composite
def deep_payloads(draw: st.DrawFn) -> bytes:
    """A payload with a structure up to 5000 levels deep, possibly cut off or left unclosed."""
    levels = draw(st.integers(min_value=0, max_value=5000))
    shape = st.sampled_from([b"[", b'{"x":', b"[1,", b'{"probes":'])
    shapes = draw(st.lists(shape, min_size=1, max_size=4))
    openers = [shapes[i % len(shapes)] for i in range(levels)]
    closers = [b"]" if opener.startswith(b"[") else b"}" for opener in reversed(openers)]
    leaf = to_wire(draw(json_values), ensure_ascii=True)
    body = BEAT + b',"x":' + b"".join(openers) + leaf + b"".join(closers) + b"}"
    cut = draw(st.none() | st.integers(min_value=0, max_value=len(body)))
    return body if cut is None else body[:cut]


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    """A valid payload with a few bytes inserted, replaced or removed."""
    body = bytearray(nested(draw(st.integers(min_value=1, max_value=40))))
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        at = draw(st.integers(min_value=0, max_value=len(body)))
        junk = draw(st.binary(min_size=0, max_size=4))
        body[at : at + draw(st.integers(min_value=0, max_value=3))] = junk
    return bytes(body)


def json_depth(value: object) -> int:
    """How deep arrays and objects nest in a JSON value (a scalar is 0)."""
    if isinstance(value, list):
        return 1 + max(map(json_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(json_depth, value.values()), default=0)
    return 0


@given(st.integers(min_value=0, max_value=60), json_values)
def test_too_deep_is_decided_by_the_true_nesting_depth(levels: int, leaf: object) -> None:
    """A payload is too_deep exactly when its arrays and objects nest more than 32 levels,
    whatever brackets, quotes and escapes its strings hold."""
    wrapped: object = leaf
    for level in range(levels):
        wrapped = [wrapped] if level % 2 else {"x": wrapped, "s": ']}\\"['}
    body = b'{"v":1,"session":1,"seq":1,"ts":1,"x":' + to_wire(wrapped, ensure_ascii=True) + b"}"
    assume(len(body) <= protocol.MAX_PAYLOAD_BYTES)
    reason: RejectReason | None = None
    try:
        protocol.decode(HEARTBEAT_TOPIC, body)
    except ProtocolError as exc:
        reason = exc.reason
    assert (reason is RejectReason.TOO_DEEP) == (1 + json_depth(wrapped) > protocol.MAX_NESTING)


hostile_payloads = (
    st.binary(max_size=300)
    | st.builds(to_wire, json_values, st.booleans())
    | st.builds(to_wire, json_objects, st.booleans())
    | deep_payloads()
    | mutated_payloads()
)


@settings(
    max_examples=400, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(st.sampled_from(ALL_TOPICS), hostile_payloads)
def test_decode_returns_a_message_or_raises_protocol_error_for_any_bytes(
    topic: str, data: bytes
) -> None:
    """No payload makes decode raise anything but ProtocolError; what it accepts is in bounds."""
    outcome: protocol.Message | ProtocolError
    try:
        outcome = protocol.decode(topic, data)
    except ProtocolError as exc:
        outcome = exc
    if isinstance(outcome, ProtocolError):
        assert isinstance(outcome.reason, RejectReason)
        return
    message = outcome
    for name in ("session", "seq", "connection"):
        value = getattr(message.payload, name, None)
        assert value is None or 0 <= value < 2**63
