"""What the aggregator knows, as frozen records: the status engine's output (a ``Snapshot``).

The status engine (pure, no I/O) produces a new ``Snapshot`` whenever its inputs change the
picture or a deadline passes; the metrics collector, the HTTP API, the status page and the event
stream only read snapshots. Times are wall-clock seconds (``time.time()``) of the aggregator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from agents.protocol import Resource

# Defined with the registry (what a link is); re-exported as part of the core's vocabulary.
from monitor.registry import LinkKey, link_key

__all__ = [
    "CONNECTED_STATUSES",
    "INCIDENT_KINDS",
    "LINK_STATES",
    "SEVERITIES",
    "STATUSES",
    "USABLE_LINK_STATES",
    "CenterView",
    "ElementKind",
    "FailedElement",
    "Finding",
    "Impact",
    "Incident",
    "IncidentChange",
    "IncidentEvent",
    "IncidentKind",
    "IncidentState",
    "LinkEvent",
    "LinkKey",
    "LinkState",
    "LinkView",
    "ProbeView",
    "RootCause",
    "Severity",
    "SinglePointOfFailure",
    "Snapshot",
    "Status",
    "StatusEvent",
    "Victim",
    "link_key",
]

Status = Literal[
    "connected", "degraded", "isolated", "stale", "down", "unreachable", "maintenance", "unknown"
]
STATUSES: Final[tuple[Status, ...]] = (
    "connected",
    "degraded",
    "isolated",
    "stale",
    "down",
    "unreachable",
    "maintenance",
    "unknown",
)
# The ``connected`` flag of DESIGN §2: 1 for these, 0 for every other status.
CONNECTED_STATUSES: Final[frozenset[Status]] = frozenset({"connected", "degraded", "stale"})

LinkState = Literal["up", "down", "asymmetric", "unknown"]
LINK_STATES: Final[tuple[LinkState, ...]] = ("up", "down", "asymmetric", "unknown")
USABLE_LINK_STATES: Final[frozenset[LinkState]] = frozenset({"up", "asymmetric"})


@dataclass(frozen=True, slots=True)
class RootCause:
    """The nearest failed center or cut link between a center and the core."""

    kind: Literal["center", "link", "monitor"]
    ids: tuple[str, ...]
    """``("hub-north",)`` for a center, ``("a", "b")`` (sorted) for a link, ``()`` otherwise."""

    @property
    def label(self) -> str:
        """One label value naming the cause: ``hub-north`` or ``a--b`` (links)."""
        return "--".join(self.ids) if self.ids else "monitor"


@dataclass(frozen=True, slots=True)
class CenterView:
    """Everything the aggregator derived about one registered center."""

    id: str
    status: Status
    live: bool
    never_seen: bool
    why: str
    """Empty when connected; else a sentence, e.g. "hub-north is down (root cause)"."""
    root_cause: RootCause | None
    session: int | None = None
    heartbeat_interval_s: float | None = None
    last_heartbeat_at: float | None = None
    clock_skew_s: float | None = None
    capacity: Mapping[str, Resource] = field(default_factory=dict)
    """Latest capacity report, by resource name (``cpu_cores``, ``gpus``, …)."""
    capacity_at: float | None = None
    single_point_of_failure: bool = False
    dependents: int = 0
    """How many centers would lose the core if this one failed."""
    partition: int | None = None
    """Index of the connected component (among live and stale centers) it belongs to."""
    in_maintenance: bool = False
    incidents: tuple[str, ...] = ()
    """Open incidents it is an element or a victim of."""

    @property
    def connected(self) -> bool:
        """The ``connected`` flag: connected, degraded or stale."""
        return self.status in CONNECTED_STATUSES


@dataclass(frozen=True, slots=True)
class ProbeView:
    """The latest probe from ``source`` to ``target`` (a registry neighbour)."""

    source: str
    target: str
    reachable: bool
    rtt_s: float | None
    loss_ratio: float
    received_at: float
    fresh: bool


@dataclass(frozen=True, slots=True)
class LinkView:
    """A registered link and what the evidence says about it."""

    a: str
    b: str
    state: LinkState
    bandwidth_gbps: float
    bridge: bool = False
    """True if losing this link would cut centers off the core."""
    dependents: int = 0
    rtt_s: float | None = None
    """Mean RTT of the fresh reachable probes across it."""
    loss_ratio: float | None = None
    incident: str | None = None
    """The open incident this link is a failed element of."""
    in_maintenance: bool = False
    """Inside a declared maintenance window: it opens no incident and does not alert."""

    @property
    def usable(self) -> bool:
        """Up and asymmetric links carry traffic."""
        return self.state in USABLE_LINK_STATES

    @property
    def key(self) -> LinkKey:
        """The link's id (``a < b``)."""
        return (self.a, self.b)


@dataclass(frozen=True, slots=True)
class SinglePointOfFailure:
    """A center or link whose failure would cut ``cut_off`` centers off the core."""

    kind: Literal["center", "link"]
    ids: tuple[str, ...]
    cut_off: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """A status transition of one center."""

    seq: int
    at: float
    center: str
    old: Status
    new: Status
    why: str


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A state change of one link (numbered in the same sequence as status events)."""

    seq: int
    at: float
    a: str
    b: str
    old: LinkState
    new: LinkState
    incident: str | None = None
    """The open incident the link is a failed element of, after the change."""


IncidentChange = Literal["opened", "updated", "resolved", "reopened"]


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """An incident opened, changed (elements, victims, summary), resolved or reopened."""

    seq: int
    at: float
    incident: str
    change: IncidentChange
    kind: IncidentKind
    severity: Severity
    summary: str


# --- incidents (DESIGN §9; derived by monitor.status.incidents) ---------------------------------

ElementKind = Literal["center", "link", "agent"]
IncidentKind = Literal["center", "link", "partition", "agent", "compound"]
Severity = Literal["critical", "warning", "info"]
IncidentState = Literal["open", "resolved"]

SEVERITIES: Final[tuple[Severity, ...]] = ("critical", "warning", "info")
INCIDENT_KINDS: Final[tuple[IncidentKind, ...]] = (
    "center",
    "link",
    "partition",
    "agent",
    "compound",
)


@dataclass(frozen=True, slots=True, order=True)
class FailedElement:
    """A down center, a down link (neither end down) or a stale center's dead agent."""

    kind: ElementKind
    ids: tuple[str, ...]
    """``(center,)`` for a center or an agent; ``(a, b)`` with ``a < b`` for a link."""

    @property
    def label(self) -> str:
        """``hub-central`` or ``a--b``."""
        return "--".join(self.ids)


@dataclass(frozen=True, slots=True)
class Victim:
    """A center that one of the incident's repairs would help, with its status now."""

    center: str
    status: Status
    tier: str


@dataclass(frozen=True, slots=True)
class Impact:
    """Who lost what, and the capacity no longer reachable or at risk."""

    victims_by_status: Mapping[str, int]
    victims_by_tier: Mapping[str, int]
    capacity_unreachable: Mapping[str, float]
    """Available capacity (by resource) of the victims that lost the core."""
    capacity_at_risk: Mapping[str, float]
    """Available capacity of the victims that only lost redundancy."""


@dataclass(frozen=True, slots=True)
class Finding:
    """An incident as one evaluation derives it, before it has an identity."""

    kind: IncidentKind
    severity: Severity
    tier: str
    summary: str
    elements: tuple[FailedElement, ...]
    victims: tuple[Victim, ...]
    impact: Impact

    @property
    def centers(self) -> tuple[str, ...]:
        """The failed centers (down, or stale for an agent)."""
        return tuple(e.ids[0] for e in self.elements if e.kind != "link")

    @property
    def links(self) -> tuple[LinkKey, ...]:
        """The failed links."""
        return tuple((e.ids[0], e.ids[1]) for e in self.elements if e.kind == "link")


@dataclass(frozen=True, slots=True)
class Incident:
    """One real problem, with its identity and lifecycle (DESIGN §9)."""

    id: str
    state: IncidentState
    finding: Finding
    opened_at: float
    updated_at: float
    resolved_at: float | None = None
    flaps: int = 0

    @property
    def kind(self) -> IncidentKind:
        """center, link, partition, agent or compound."""
        return self.finding.kind

    @property
    def severity(self) -> Severity:
        """critical (someone lost the core), warning (redundancy, agents) or info."""
        return self.finding.severity

    @property
    def summary(self) -> str:
        """One sentence an operator can read aloud."""
        return self.finding.summary


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole derived picture at one evaluation."""

    generation: int
    evaluated_at: float
    blind: bool
    """True while the aggregator has no broker (every status is ``unknown``)."""
    centers: Mapping[str, CenterView]
    """In registry order."""
    links: Mapping[LinkKey, LinkView]
    probes: Mapping[tuple[str, str], ProbeView]
    core: frozenset[str]
    partitions: int
    connected_ratio: Mapping[str, float]
    """Per tier, plus ``"all"``."""
    status_counts: Mapping[Status, int]
    spof: tuple[SinglePointOfFailure, ...]
    transitions: tuple[StatusEvent, ...] = ()
    """Status changes produced by this evaluation."""
    incidents: Mapping[str, Incident] = field(default_factory=dict)
    """Open incidents by id (kept as they were while blind or in grace)."""
    resolved_incidents: tuple[Incident, ...] = ()
    """Recently resolved incidents, oldest first."""
    link_transitions: tuple[LinkEvent, ...] = ()
    """Link state changes produced by this evaluation."""
    incident_changes: tuple[IncidentEvent, ...] = ()
    """Incidents opened, updated, resolved or reopened by this evaluation."""
