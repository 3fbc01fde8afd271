"""Wire protocol v1: topics, payload types, encode/decode and validation.

This module is the single owner of the MQTT contract; both the agent and the aggregator import it,
and ``docs/protocol.md`` is its public specification. Decoding validates once, at the boundary,
into frozen typed records; anything that does not fit raises :class:`ProtocolError` with a
machine-readable :class:`RejectReason` so that callers can count it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Final, Literal

import msgspec

from agents.errors import DcmonError

PROTOCOL_VERSION: Final = 1
TOPIC_ROOT: Final = "dcmon/v1"
SUBSCRIPTION: Final = f"{TOPIC_ROOT}/#"
MAX_PAYLOAD_BYTES: Final = 64 * 1024
MAX_NESTING: Final = 32
"""How deep arrays and objects may nest, the payload object counting as level 1 (v1 needs 3)."""
COUNTER_MAX: Final = 2**63 - 1
"""Counters (``session``, ``seq``, ``connection``) are integers in ``[0, COUNTER_MAX]``."""
CENTER_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"
# ``\Z`` rather than ``$``: ``$`` also matches before a trailing newline.
_CENTER_ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\Z")


class MessageKind(StrEnum):
    """What a message on the wire is, named by the last level of its topic."""

    STATE = "state"
    HEARTBEAT = "heartbeat"
    CAPACITY = "capacity"
    LINKS = "links"
    AGGREGATOR_STATE = "aggregator_state"


class RejectReason(StrEnum):
    """Why a message was refused; used as the ``reason`` label of the rejection counter."""

    BAD_TOPIC = "bad_topic"
    BAD_CENTER_ID = "bad_center_id"
    TOO_LARGE = "too_large"
    MALFORMED_JSON = "malformed_json"
    TOO_DEEP = "too_deep"
    WRONG_TYPE = "wrong_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    CENTER_MISMATCH = "center_mismatch"
    # The following are decided by the aggregator, not by decoding, but share the vocabulary.
    UNREGISTERED_CENTER = "unregistered_center"
    OLD_SESSION = "old_session"
    DUPLICATE = "duplicate"
    OLD_CONNECTION = "old_connection"
    """A will of an earlier connection of the session, arriving after a later birth."""


class ProtocolError(DcmonError):
    """A message that does not conform to wire protocol v1."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def is_valid_center_id(value: str) -> bool:
    """Whether ``value`` is a legal center id (``^[a-z0-9][a-z0-9-]{0,62}$``, ASCII only)."""
    return value.isascii() and _CENTER_ID_RE.match(value) is not None


def check_center_id(value: str) -> str:
    """Return ``value`` if it is a legal center id, else raise ``ProtocolError``."""
    if not is_valid_center_id(value):
        raise ProtocolError(RejectReason.BAD_CENTER_ID, f"invalid center id {value!r}")
    return value


# --- payload types -------------------------------------------------------------------------------

NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Ratio = Annotated[float, msgspec.Meta(ge=0, le=1)]
Counter = Annotated[int, msgspec.Meta(ge=0, le=COUNTER_MAX)]


class _Payload(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Common base: every payload carries the protocol version."""

    v: int = PROTOCOL_VERSION


class CenterState(_Payload, frozen=True, kw_only=True):
    """Birth (``online``), will or goodbye (``offline``) of a center's agent. Retained, QoS 1."""

    center: str
    status: Literal["online", "offline"]
    session: Counter
    ts: float
    heartbeat_interval_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    probe_interval_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    agent: str | None = None
    reason: Literal["lost", "shutdown"] | None = None
    connection: Counter | None = None
    """Grows with every connection of the session, so a will pairs with its own birth."""


class Heartbeat(_Payload, frozen=True, kw_only=True):
    """Liveness tick. QoS 0, not retained."""

    session: Counter
    seq: Counter
    ts: float
    center: str | None = None
    connection: Counter | None = None
    """The connection it is sent on (as in the center state): proves that connection is alive."""


class Resource(msgspec.Struct, frozen=True, kw_only=True):
    """Total and currently available amount of one resource."""

    total: NonNegative
    available: NonNegative


class Capacity(_Payload, frozen=True, kw_only=True):
    """A center's capacity; every resource is optional. Retained, QoS 1."""

    session: Counter
    seq: Counter
    ts: float
    center: str | None = None
    cpu_cores: Resource | None = None
    gpus: Resource | None = None
    memory_bytes: Resource | None = None
    storage_bytes: Resource | None = None


RESOURCES: Final = ("cpu_cores", "gpus", "memory_bytes", "storage_bytes")


class Probe(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Result of probing one registry neighbour."""

    peer: str
    reachable: bool
    rtt_s: NonNegative | None = None
    loss_ratio: Ratio | None = None

    @property
    def effective_loss(self) -> float:
        """Loss ratio, defaulting to 0 for a reachable peer and 1 for an unreachable one."""
        if self.loss_ratio is not None:
            return self.loss_ratio
        return 0.0 if self.reachable else 1.0


class LinkReport(_Payload, frozen=True, kw_only=True):
    """Link-probe results of one probe round. Retained, QoS 1."""

    session: Counter
    seq: Counter
    ts: float
    probes: tuple[Probe, ...] = ()
    center: str | None = None


class AggregatorState(_Payload, frozen=True, kw_only=True):
    """Birth or will of an aggregator instance. Retained, QoS 1."""

    aggregator: str
    status: Literal["online", "offline"]
    session: Counter
    ts: float
    reason: Literal["lost", "shutdown"] | None = None


CenterPayload = CenterState | Heartbeat | Capacity | LinkReport
Payload = CenterPayload | AggregatorState

_TYPE_BY_KIND: Final[dict[MessageKind, type[Payload]]] = {
    MessageKind.STATE: CenterState,
    MessageKind.HEARTBEAT: Heartbeat,
    MessageKind.CAPACITY: Capacity,
    MessageKind.LINKS: LinkReport,
    MessageKind.AGGREGATOR_STATE: AggregatorState,
}
_DECODERS: Final = {kind: msgspec.json.Decoder(t) for kind, t in _TYPE_BY_KIND.items()}
_ENCODER: Final = msgspec.json.Encoder()

QOS: Final[dict[MessageKind, int]] = {
    MessageKind.STATE: 1,
    MessageKind.HEARTBEAT: 0,
    MessageKind.CAPACITY: 1,
    MessageKind.LINKS: 1,
    MessageKind.AGGREGATOR_STATE: 1,
}
RETAIN: Final[dict[MessageKind, bool]] = {
    MessageKind.STATE: True,
    MessageKind.HEARTBEAT: False,
    MessageKind.CAPACITY: True,
    MessageKind.LINKS: True,
    MessageKind.AGGREGATOR_STATE: True,
}
_CENTER_KINDS: Final = {
    "state": MessageKind.STATE,
    "heartbeat": MessageKind.HEARTBEAT,
    "capacity": MessageKind.CAPACITY,
    "links": MessageKind.LINKS,
}


# --- topics --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicAddress:
    """Where a message was published: its kind and the center (or aggregator) it is about."""

    kind: MessageKind
    source: str


def center_topic(center: str, kind: MessageKind) -> str:
    """Topic of one of a center's message kinds, e.g. ``dcmon/v1/centers/hub-north/state``."""
    if kind is MessageKind.AGGREGATOR_STATE:
        raise ValueError("aggregator state is not a center topic; use aggregator_topic()")
    return f"{TOPIC_ROOT}/centers/{check_center_id(center)}/{kind.value}"


def aggregator_topic(instance: str) -> str:
    """Topic of an aggregator instance's birth/will."""
    return f"{TOPIC_ROOT}/aggregators/{check_center_id(instance)}/state"


def parse_topic(topic: str) -> TopicAddress:
    """Split a v1 topic into kind and source id; raises ``ProtocolError`` for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "dcmon" or parts[1] != "v1":
        raise ProtocolError(RejectReason.BAD_TOPIC, f"not a dcmon v1 topic: {topic!r}")
    _, _, collection, source, leaf = parts
    if collection == "centers" and leaf in _CENTER_KINDS:
        kind = _CENTER_KINDS[leaf]
    elif collection == "aggregators" and leaf == "state":
        kind = MessageKind.AGGREGATOR_STATE
    else:
        raise ProtocolError(RejectReason.BAD_TOPIC, f"unknown topic {topic!r}")
    if not is_valid_center_id(source):
        raise ProtocolError(RejectReason.BAD_CENTER_ID, f"invalid id {source!r} in topic")
    return TopicAddress(kind, source)


# --- encode / decode -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded, validated message: where it came from and its typed payload."""

    kind: MessageKind
    source: str
    payload: Payload


def encode(payload: Payload) -> bytes:
    """Serialise a payload to its JSON wire form (absent optional fields are omitted)."""
    data = _ENCODER.encode(payload)
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(RejectReason.TOO_LARGE, f"payload of {len(data)} bytes")
    return data


def decode_payload(kind: MessageKind, data: bytes | bytearray | memoryview) -> Payload:
    """Decode and validate the payload of a message of ``kind`` (no topic checks).

    Checks, in this order: size, UTF-8, nesting depth, then JSON syntax, types and version.
    """
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(
            RejectReason.TOO_LARGE, f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}"
        )
    raw = bytes(data)  # no copy when it already is bytes
    _check_utf8(raw)
    _check_nesting(raw)
    try:
        payload = _DECODERS[kind].decode(raw)
    except msgspec.ValidationError as exc:
        raise ProtocolError(RejectReason.WRONG_TYPE, str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise ProtocolError(RejectReason.MALFORMED_JSON, str(exc)) from exc
    except RecursionError as exc:  # pragma: no cover - _check_nesting keeps msgspec shallow
        raise ProtocolError(RejectReason.TOO_DEEP, "nested too deep for the decoder") from exc
    except Exception as exc:  # pragma: no cover - a decoder bug must still be a counted reject
        raise ProtocolError(
            RejectReason.MALFORMED_JSON, f"decoder failed: {type(exc).__name__}: {exc}"
        ) from exc
    if payload.v != PROTOCOL_VERSION:
        raise ProtocolError(
            RejectReason.UNSUPPORTED_VERSION, f"protocol version {payload.v} is not supported"
        )
    return payload


def _check_utf8(data: bytes) -> None:
    # msgspec validates only the strings it keeps: bytes inside skipped unknown fields get through.
    if data.isascii():
        return
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            RejectReason.MALFORMED_JSON, f"not UTF-8: {exc.reason} at byte {exc.start}"
        ) from exc


def _nesting_pattern(levels: int) -> re.Pattern[bytes]:
    """Parentheses nested at most ``levels`` deep; the end of the input may cut groups off.

    Possessive repeats never backtrack, so a match takes linear time. It stops at the first
    ``(`` that would open level ``levels + 1`` or at a ``)`` that closes nothing.
    """
    group = rb"\((?:\)|\Z)"
    for _ in range(levels - 1):
        group = rb"\((?:" + group + rb")*+(?:\)|\Z)"
    return re.compile(rb"(?:" + group + rb")*+")


# A regex rather than peeling one level off per bytes.replace() pass: on 64 KiB of 30-deep
# arrays, the worst case, it takes 0.4 ms where peeling took 7 ms (measured).
_SHALLOW_PARENS: Final = _nesting_pattern(MAX_NESTING)
_BRACKETS_AS_PARENS: Final = bytes.maketrans(b"[]{}", b"()()")
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_BRACKETS_QUOTES_ESCAPES: Final = bytes(b for b in range(256) if b not in b'[]{}"\\')
# A JSON string. An unterminated one runs to the end (the payload is malformed anyway), so that
# every quote starts a match and the scan stays linear.
_JSON_STRING: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)


def _check_nesting(data: bytes) -> None:
    """Refuse arrays and objects nested deeper than ``MAX_NESTING``, before msgspec sees them.

    msgspec recurses once per level, also while skipping unknown fields, and raises
    ``RecursionError`` near the interpreter's recursion limit; checking here makes the limit the
    same on every interpreter and keeps the decoder far from the end of the stack.
    """
    structure = data.translate(_BRACKETS_AS_PARENS, _NOT_BRACKETS_QUOTES_ESCAPES)
    if structure.count(b"(") <= MAX_NESTING:
        return  # no deeper than it has brackets: almost every real payload ends here
    # Brackets inside strings do not nest. Strings without brackets or escapes (all of them, in
    # practice) are '""' here and vanish; only otherwise are strings parsed out.
    parens = structure.replace(b'""', b"")
    if b'"' in parens or b"\\" in parens:
        parens = _JSON_STRING.sub(b"", data).translate(_BRACKETS_AS_PARENS, _NOT_BRACKETS)
    shallow = _SHALLOW_PARENS.match(parens)
    end = shallow.end() if shallow is not None else 0
    if end == len(parens):
        return  # within the limit (if brackets are missing at the end, msgspec says so)
    if parens[end] == ord(")"):
        raise ProtocolError(RejectReason.MALFORMED_JSON, "a closing bracket closes nothing")
    raise ProtocolError(
        RejectReason.TOO_DEEP, f"arrays and objects nested deeper than {MAX_NESTING} levels"
    )


def decode(topic: str, data: bytes | bytearray | memoryview) -> Message:
    """Decode a message received on ``topic``: topic, size, JSON, types and ids are all checked.

    Raises:
        ProtocolError: with the reason the message was refused; nothing else, whatever the bytes.
    """
    address = parse_topic(topic)
    payload = decode_payload(address.kind, data)
    _check_payload_ids(address, payload)
    return Message(address.kind, address.source, payload)


def _check_payload_ids(address: TopicAddress, payload: Payload) -> None:
    claimed = payload.aggregator if isinstance(payload, AggregatorState) else payload.center
    if claimed is not None and claimed != address.source:
        raise ProtocolError(
            RejectReason.CENTER_MISMATCH,
            f"payload id {claimed!r} differs from topic id {address.source!r}",
        )
    if (
        isinstance(payload, CenterState)
        and payload.status == "online"
        and payload.heartbeat_interval_s is None
    ):
        raise ProtocolError(RejectReason.WRONG_TYPE, "a birth must carry heartbeat_interval_s")
    if isinstance(payload, LinkReport):
        for probe in payload.probes:
            if not is_valid_center_id(probe.peer):
                raise ProtocolError(
                    RejectReason.BAD_CENTER_ID, f"invalid peer id {probe.peer!r} in probes"
                )
