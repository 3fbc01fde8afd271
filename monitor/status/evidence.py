"""What the aggregator has heard from each center: sessions, liveness and the latest reports.

Ordering rules (DESIGN §3): a message of an older session than the newest one seen is refused
(``OLD_SESSION``); a newer session supersedes, whatever kind of message brings it; within a
session a heartbeat, capacity or links message must carry a ``seq`` newer than the last one of
its kind (else ``DUPLICATE``); a state message that repeats one already applied in the session is
a ``DUPLICATE``. The outcome therefore does not depend on delivery order, except that state
messages of one session keep their MQTT per-topic order (a will, then the birth that the agent
republishes after reconnecting, means online again).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Final

from agents.protocol import (
    Capacity,
    CenterState,
    Heartbeat,
    LinkReport,
    Message,
    Probe,
    RejectReason,
    Resource,
)

SESSION_SKEW_S: Final = 300.0
"""Default: how far (seconds) a session number may run ahead of the aggregator's clock in ms."""
ABANDONED_KEPT: Final = 4
"""Abandoned future sessions remembered per center (their late wills and reports are refused)."""


class Change(Enum):
    """How much an accepted message changed what the engine must derive."""

    NONE = 0
    VALUES = 1
    """Only measured values (heartbeat time, RTT, capacity): statuses cannot change."""
    PICTURE = 2
    """Liveness or link evidence may have changed: statuses must be re-derived."""


@dataclass(slots=True)
class CenterRecord:
    """Mutable evidence about one registered center (owned by the engine)."""

    id: str
    session: int | None = None
    session_from_future: bool = False
    """The session number was beyond the aggregator's clock (in ms) plus the allowed skew when it
    began: it does not pin the center (a lower session is then a restart, not an old one)."""
    abandoned_sessions: tuple[int, ...] = ()
    """Sessions from the future that a restart replaced; their late messages are refused."""
    born: bool = False
    offline: bool = False
    offline_reason: str | None = None
    applied_states: set[tuple[str, float]] = field(default_factory=set)
    heartbeat_interval_s: float | None = None
    probe_interval_s: float | None = None
    heartbeat_seq: int = -1
    capacity_seq: int = -1
    links_seq: int = -1
    heard: bool = False
    connection: int | None = None
    """The highest connection number of the session seen in a state message or heartbeat."""
    offline_connection: int | None = None
    """The connection number of the will (or goodbye) that made the center offline."""
    birth_ts: tuple[float | None, float | None] = (None, None)
    """The agent's timestamps of the session's last two births (older, newer)."""
    last_alive_at: float | None = None
    """Receive time of the newest birth or heartbeat of the current session."""
    last_heartbeat_at: float | None = None
    clock_skew_s: float | None = None
    capacity: dict[str, Resource] = field(default_factory=dict)
    capacity_at: float | None = None
    probes: dict[str, Probe] = field(default_factory=dict)
    """Latest links report, by peer."""
    probes_at: float | None = None

    def copy(self) -> CenterRecord:
        """A shallow copy (the evidence as it is now: applying a message replaces the probes
        and capacity mappings, it never changes them in place)."""
        twin = object.__new__(CenterRecord)
        for name, value in zip(_FIELDS, _read_fields(self), strict=True):
            object.__setattr__(twin, name, value)
        return twin

    def window(self, misses: int, default_interval_s: float) -> float:
        """The heartbeat window: ``misses`` x the announced (or default) interval."""
        return misses * (self.heartbeat_interval_s or default_interval_s)

    def alive_until(self, misses: int, default_interval_s: float) -> float | None:
        """When the center turns silent unless another heartbeat arrives (None: not alive)."""
        if self.offline or self.last_alive_at is None:
            return None
        return self.last_alive_at + self.window(misses, default_interval_s)

    def is_live(self, now: float, misses: int, default_interval_s: float) -> bool:
        """Live: not offline, and a birth or heartbeat arrived within the window."""
        until = self.alive_until(misses, default_interval_s)
        return until is not None and now < until

    def fresh_for(self, probe_fresh_s: float) -> float:
        """How long a links report counts: the setting, or 3 probe intervals if longer."""
        if self.probe_interval_s is None:
            return probe_fresh_s
        return max(probe_fresh_s, 3 * self.probe_interval_s)

    def probes_fresh(self, now: float, probe_fresh_s: float) -> bool:
        """Whether the latest links report is still fresh at ``now``."""
        return self.probes_at is not None and now - self.probes_at < self.fresh_for(probe_fresh_s)

    # --- applying messages ------------------------------------------------------------------

    def apply(
        self, message: Message, received_at: float, session_skew_s: float = SESSION_SKEW_S
    ) -> tuple[RejectReason | None, Change]:
        """Apply one decoded message about this center; returns the refusal and the change.

        ``session_skew_s``: a session number above the aggregator's clock in milliseconds plus
        this much is *from the future* (the agent's clock ran ahead): it does not pin the
        center, so a later, lower session from a corrected clock is taken as a restart.
        """
        payload = message.payload
        if isinstance(payload, CenterState):
            return self._apply_state(payload, received_at, session_skew_s)
        if isinstance(payload, Heartbeat | Capacity | LinkReport):
            reject = self._enter_session(payload.session, received_at, session_skew_s)
            if reject is not None:
                return reject, Change.NONE
            if isinstance(payload, Heartbeat):
                return self._apply_heartbeat(payload, received_at)
            if isinstance(payload, Capacity):
                return self._apply_capacity(payload, received_at)
            return self._apply_links(payload, received_at)
        return None, Change.NONE  # pragma: no cover - AggregatorState is filtered by the engine

    def _enter_session(
        self, session: int, received_at: float, skew_s: float
    ) -> RejectReason | None:
        current = self.session
        if session == current:
            return None
        if session in self.abandoned_sessions:
            return RejectReason.OLD_SESSION
        if current is not None and session < current:
            if not self.session_from_future:
                return RejectReason.OLD_SESSION
            # The current session came from a clock far ahead: a lower one is a restart with a
            # corrected clock, and nothing of the abandoned session may come back.
            self.abandoned_sessions = (*self.abandoned_sessions[-(ABANDONED_KEPT - 1) :], current)
        self._start_session(session)
        self.session_from_future = session > (received_at + skew_s) * 1000.0
        return None

    def _start_session(self, session: int) -> None:
        self.session = session
        self.session_from_future = False
        self.born = False
        self.offline = False
        self.offline_reason = None
        self.applied_states = set()
        self.birth_ts = (None, None)
        self.connection = None
        self.offline_connection = None
        self.heartbeat_interval_s = None
        self.probe_interval_s = None
        self.heartbeat_seq = self.capacity_seq = self.links_seq = -1
        self.last_alive_at = None
        self.capacity = {}
        self.capacity_at = None
        self.probes = {}
        self.probes_at = None

    def _apply_state(
        self, state: CenterState, received_at: float, skew_s: float
    ) -> tuple[RejectReason | None, Change]:
        reject = self._enter_session(state.session, received_at, skew_s)
        if reject is not None:
            return reject, Change.NONE
        key = (state.status, state.ts)
        if key in self.applied_states:
            return RejectReason.DUPLICATE, Change.NONE
        if self._of_an_earlier_connection(state):
            return RejectReason.OLD_CONNECTION, Change.NONE
        self.applied_states.add(key)
        self.heard = True
        if state.connection is not None:
            self.connection = max(self.connection or 0, state.connection)
        if state.status == "offline":
            self.offline = True
            self.offline_reason = state.reason or "lost"
            self.offline_connection = state.connection
            return None, Change.PICTURE
        self.born = True
        self.offline = False
        self.offline_reason = None
        self.birth_ts = (self.birth_ts[-1], state.ts)
        self.heartbeat_interval_s = state.heartbeat_interval_s
        self.probe_interval_s = state.probe_interval_s
        self.last_alive_at = max(self.last_alive_at or received_at, received_at)
        return None, Change.PICTURE

    def _of_an_earlier_connection(self, state: CenterState) -> bool:
        """Whether a state message belongs to an earlier connection of the session.

        With connection numbers (protocol §5) that is exact: a lower number than the highest
        seen. Without them, only a will can be judged: an agent sets its will when it connects
        and publishes its birth right after, so the will of the connection whose birth was
        applied last is newer than the birth before it; a will older than that comes from an
        earlier connection whose loss the broker noticed late.
        """
        if state.connection is not None and self.connection is not None:
            return state.connection < self.connection
        previous_birth_ts = self.birth_ts[0]
        return (
            state.status == "offline"
            and previous_birth_ts is not None
            and state.ts < previous_birth_ts
        )

    def _apply_heartbeat(
        self, beat: Heartbeat, received_at: float
    ) -> tuple[RejectReason | None, Change]:
        if beat.seq <= self.heartbeat_seq:
            return RejectReason.DUPLICATE, Change.NONE
        self.heartbeat_seq = beat.seq
        self.heard = True
        if self.offline:
            # A heartbeat delayed past the will proves nothing, unless it names a later
            # connection than the will's: then the agent is talking on a connection that the
            # will does not concern (its birth may be late, or overwritten by that will).
            if not _later(beat.connection, self.offline_connection):
                return None, Change.NONE
            self.offline = False
            self.offline_reason = None
            self.connection = beat.connection
            self.last_heartbeat_at = received_at
            self.clock_skew_s = beat.ts - received_at
            self.last_alive_at = received_at
            return None, Change.PICTURE
        if beat.connection is not None:
            self.connection = max(self.connection or 0, beat.connection)
        self.last_heartbeat_at = received_at
        self.clock_skew_s = beat.ts - received_at
        self.last_alive_at = received_at
        return None, Change.VALUES  # the engine upgrades it for a center it did not judge live

    def _apply_capacity(
        self, report: Capacity, received_at: float
    ) -> tuple[RejectReason | None, Change]:
        if report.seq <= self.capacity_seq:
            return RejectReason.DUPLICATE, Change.NONE
        self.capacity_seq = report.seq
        self.heard = True
        self.capacity = {
            name: value
            for name in ("cpu_cores", "gpus", "memory_bytes", "storage_bytes")
            if (value := getattr(report, name)) is not None
        }
        self.capacity_at = received_at
        return None, Change.VALUES

    def _apply_links(
        self, report: LinkReport, received_at: float
    ) -> tuple[RejectReason | None, Change]:
        if report.seq <= self.links_seq:
            return RejectReason.DUPLICATE, Change.NONE
        self.links_seq = report.seq
        self.heard = True
        old = self.probes
        self.probes = {probe.peer: probe for probe in report.probes}
        self.probes_at = received_at
        same_verdicts = old.keys() == self.probes.keys() and all(
            old[peer].reachable == probe.reachable for peer, probe in self.probes.items()
        )
        return None, Change.VALUES if same_verdicts else Change.PICTURE


_FIELDS: Final = tuple(f.name for f in fields(CenterRecord))
_read_fields: Final = operator.attrgetter(*_FIELDS)


def _later(connection: int | None, than: int | None) -> bool:
    """Whether both connection numbers are known and the first is the later one."""
    return connection is not None and than is not None and connection > than
