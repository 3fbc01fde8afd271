"""What-if (DESIGN §10): the statuses, incidents and capacity were some failures to happen.

A what-if never invents a second set of rules: it writes the *evidence* those failures would
produce into copies of the evidence records (a down center falls silent and its neighbours'
probes stop reaching it; a cut link's probes fail at both ends; a repair is the reverse), then
runs the engine's own evaluation (``derive``), snapshot builder and incident derivation over
them at the same instant. That is why a what-if of the current state agrees with what the
aggregator reports once the same faults really happen.

The base is either the ``current`` evidence or the ``healthy`` federation: every registered
center live and every registered link up, with each center's last reported capacity.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from agents.errors import ParameterError
from agents.protocol import RESOURCES, Probe
from monitor.registry import LinkKey
from monitor.status.capacity import counts_capacity
from monitor.status.evaluation import Judging, Picture, derive, failing_links, picture_findings
from monitor.status.evidence import CenterRecord
from monitor.status.federation import FederationIndex
from monitor.status.incidents import Circumstances, IncidentTracker, failed_elements
from monitor.status.model import (
    FailedElement,
    Finding,
    LinkState,
    Snapshot,
    Status,
    link_key,
)
from monitor.status.snapshots import QualityLimits, SnapshotBuilder

Base = Literal["current", "healthy"]
BASES: Final[tuple[Base, ...]] = ("current", "healthy")
WHATIF_REASON: Final = "what-if: down"
"""The offline reason a hypothetically failed center's evidence carries."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """Failures (and repairs) to imagine, on top of a base."""

    down: tuple[str, ...] = ()
    cut: tuple[LinkKey, ...] = ()
    """Links as ``link_key`` pairs."""
    repair: tuple[FailedElement, ...] = ()
    """Centers (kind ``center``) to bring back, links (kind ``link``) to put up."""
    base: Base = "current"

    @property
    def empty(self) -> bool:
        """Nothing imagined: the what-if is the base itself."""
        return not (self.down or self.cut or self.repair)

    @property
    def label(self) -> str:
        """``down hub-central, cut a--b`` (for a log line or a heading)."""
        parts = [f"down {c}" for c in self.down]
        parts += [f"cut {a}--{b}" for a, b in self.cut]
        parts += [f"repair {e.label}" for e in self.repair]
        return ", ".join(parts) or "nothing"


def scenario(
    index: FederationIndex,
    *,
    down: Iterable[str] = (),
    cut: Iterable[Sequence[str]] = (),
    repair: Iterable[str | Sequence[str]] = (),
    base: str = "current",
) -> Scenario:
    """A checked ``Scenario``: every center and link must be registered.

    ``repair`` items are center ids or ``[a, b]`` links.

    Raises:
        ParameterError: naming the first unknown center, self-link, unregistered link, bad base,
            or an element both failed and repaired.
    """
    if base not in BASES:
        raise ParameterError("base", f"{base!r} is not one of {', '.join(BASES)}")
    downs = tuple(dict.fromkeys(_center(index, "down", c) for c in down))
    cuts = tuple(dict.fromkeys(_link(index, "cut", pair) for pair in cut))
    repairs: list[FailedElement] = []
    for item in repair:
        if isinstance(item, str):
            repairs.append(FailedElement("center", (_center(index, "repair", item),)))
        else:
            repairs.append(FailedElement("link", _link(index, "repair", item)))
    for element in repairs:
        if element.kind == "center" and element.ids[0] in downs:
            raise ParameterError("repair", f"{element.label} is also in down")
        if element.kind == "link" and (element.ids[0], element.ids[1]) in cuts:
            raise ParameterError("repair", f"{element.label} is also in cut")
    return Scenario(downs, cuts, tuple(dict.fromkeys(repairs)), base)


def _center(index: FederationIndex, parameter: str, center: object) -> str:
    if not isinstance(center, str) or center not in index.position:
        raise ParameterError(parameter, f"{center!r} is not a registered center")
    return center


def _link(index: FederationIndex, parameter: str, pair: object) -> LinkKey:
    if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise ParameterError(parameter, f"{pair!r} is not a link: give its two centers [a, b]")
    a, b = (_center(index, parameter, end) for end in pair)
    if a == b:
        raise ParameterError(parameter, f"{a}--{b} is a self-link: a link joins two centers")
    key = link_key(a, b)
    if key not in index.link_by_key:
        raise ParameterError(parameter, f"{a}--{b} is not a registered link")
    return key


# --- hypothetical evidence ---------------------------------------------------------------------


class _Evidence:
    """Copies of the records a scenario changes, over the untouched originals."""

    def __init__(self, records: Mapping[str, CenterRecord], now: float) -> None:
        self._records = records
        self._now = now
        self.copies: dict[str, CenterRecord] = {}

    def record(self, center: str) -> CenterRecord:
        found = self.copies.get(center)
        if found is None:
            found = self.copies[center] = self._records[center].copy()
        return found

    def live(self, center: str) -> None:
        """The agent is heard now (a fresh birth of its session, a fresh links report)."""
        record = self.record(center)
        record.offline = False
        record.offline_reason = None
        record.heard = True
        record.last_alive_at = self._now
        record.probes_at = self._now

    def silent(self, center: str) -> None:
        record = self.record(center)
        record.offline = True
        record.offline_reason = WHATIF_REASON

    def probe(self, center: str, peer: str, reachable: bool) -> None:
        """``center`` reports ``peer`` (un)reachable, its other probes as they are."""
        record = self.record(center)
        old = record.probes.get(peer)
        rtt = old.rtt_s if old is not None and old.reachable else None
        probes = dict(record.probes)
        probes[peer] = Probe(peer=peer, reachable=reachable, rtt_s=rtt if reachable else None)
        record.probes = probes
        if record.probes_at is None:
            record.probes_at = self._now


def healthy_records(
    index: FederationIndex, records: Mapping[str, CenterRecord], now: float
) -> dict[str, CenterRecord]:
    """Every center live now, reporting every registered neighbour reachable now (its last
    measured RTT kept), with its last reported capacity."""
    healthy: dict[str, CenterRecord] = {}
    for center in index.ids:
        old = records[center]
        probes: dict[str, Probe] = {}
        for peer in index.neighbours[center]:
            before = old.probes.get(peer)
            rtt = before.rtt_s if before is not None and before.reachable else None
            probes[peer] = Probe(peer=peer, reachable=True, rtt_s=rtt)
        healthy[center] = CenterRecord(
            center,
            session=old.session,
            born=True,
            heard=True,
            heartbeat_interval_s=old.heartbeat_interval_s,
            probe_interval_s=old.probe_interval_s,
            last_alive_at=now,
            last_heartbeat_at=now,
            capacity=old.capacity,
            capacity_at=old.capacity_at,
            probes=probes,
            probes_at=now,
        )
    return healthy


def imagined_records(
    index: FederationIndex,
    records: Mapping[str, CenterRecord],
    imagined: Scenario,
    now: float,
    cut_off_now: Collection[str] = (),
) -> dict[str, CenterRecord]:
    """The records ``imagined`` changes, as it would change them (copies: ``records`` stay as
    they are); the scenario's evidence is these over ``records``.

    ``cut_off_now``: silent centers nobody reaches in the base (``down``, ``unreachable``); a
    repaired center's probes do not reach them either, unless they are repaired too.
    """
    evidence = _Evidence(records, now)
    repaired = {e.ids[0] for e in imagined.repair if e.kind == "center"}
    failed = (set(imagined.down) | set(cut_off_now)) - repaired
    for element in imagined.repair:
        if element.kind == "center":
            center = element.ids[0]
            evidence.live(center)
            for peer in index.neighbours[center]:
                reachable = peer not in failed
                evidence.probe(center, peer, reachable=reachable)
                if reachable:
                    evidence.probe(peer, center, reachable=True)
        else:
            a, b = element.ids
            evidence.probe(a, b, reachable=True)
            evidence.probe(b, a, reachable=True)
    for center in imagined.down:
        evidence.silent(center)
        for peer in index.neighbours[center]:
            evidence.probe(peer, center, reachable=False)
    for a, b in imagined.cut:
        evidence.probe(a, b, reachable=False)
        evidence.probe(b, a, reachable=False)
    return evidence.copies


# --- the outcome -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A center whose status the scenario would change."""

    center: str
    before: Status
    after: Status
    why: str
    """Why it would have its new status (the engine's sentence)."""


@dataclass(frozen=True, slots=True)
class LinkChange:
    """A link whose state the scenario would change."""

    key: LinkKey
    before: LinkState
    after: LinkState


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The outcome of one scenario, compared with its base at the same instant."""

    scenario: Scenario
    evaluated_at: float
    before: Snapshot
    after: Snapshot
    changes: tuple[StatusChange, ...]
    link_changes: tuple[LinkChange, ...]
    incidents_before: tuple[Finding, ...]
    incidents: tuple[Finding, ...]
    """Every incident that would exist (DESIGN §9), without identities."""
    capacity_unreachable: Mapping[str, float]
    """Available capacity (by resource) counted in the base but not after."""
    capacity_regained: Mapping[str, float]
    """Available capacity counted after but not in the base (repairs)."""
    lost_core: tuple[str, ...] = field(default=())
    """Centers connected (flag 1) in the base and not after."""

    def is_new(self, finding: Finding) -> bool:
        """Whether ``finding`` is an incident the base does not have (no shared element)."""
        mine = set(finding.elements)
        return not any(mine & set(old.elements) for old in self.incidents_before)


@dataclass(frozen=True, slots=True)
class Evaluator:
    """Everything a what-if needs besides the evidence: the federation and the rules."""

    index: FederationIndex
    region: Mapping[str, str]
    limits: QualityLimits
    incidents: bool = True

    def judging_healthy(self, current: Judging) -> Judging:
        """``current``'s rules with nothing of the monitor's own state: no blind spell, no
        grace, no maintenance."""
        return Judging(
            now=current.now,
            misses=current.misses,
            default_interval_s=current.default_interval_s,
            probe_fresh_s=current.probe_fresh_s,
            degraded_rtt_s=current.degraded_rtt_s,
            degraded_loss_ratio=current.degraded_loss_ratio,
            blind=False,
            grace_start=None,
            maintenance=frozenset(),
        )

    def evaluate(
        self, imagined: Scenario, records: Mapping[str, CenterRecord], judging: Judging
    ) -> WhatIf:
        """The outcome of ``imagined`` over ``records`` (the current evidence) under ``judging``.

        Raises:
            ParameterError: ``base: current`` while the monitor is blind (nothing is known).
        """
        if imagined.base == "healthy":
            judging = self.judging_healthy(judging)
            records = healthy_records(self.index, records, judging.now)
        elif judging.blind:
            raise ParameterError(
                "base",
                "the monitor is blind (no broker): the current state is unknown; "
                "ask with base healthy",
            )
        now, ids = judging.now, self.index.ids
        # The builder reads the records through ``evidence``; the scenario's copies are laid
        # over the base records once the base is built, so the hypothetical snapshot reuses
        # every view the scenario does not change (as the engine's own snapshots do).
        evidence: ChainMap[str, CenterRecord] = ChainMap({}, records)  # type: ignore[arg-type]
        builder = SnapshotBuilder(self.index, evidence, self.limits)
        base = derive(self.index, evidence, judging)
        before = builder.full(
            now, base, builder.initial(now), judging.blind, None, ids, IncidentTracker()
        )
        incidents_before = self._findings(evidence, base, judging)
        cut_off = [c for c, s in base.status.items() if s in ("down", "unreachable")]
        changed = imagined_records(self.index, records, imagined, now, cut_off)
        evidence.maps[0].update(changed)
        picture = derive(self.index, evidence, judging, base, changed)
        moved = set(changed) | (picture.live ^ base.live) | (picture.provisional ^ base.provisional)
        after = builder.full(now, picture, before, judging.blind, moved, changed, IncidentTracker())
        return WhatIf(
            scenario=imagined,
            evaluated_at=now,
            before=before,
            after=after,
            changes=tuple(
                StatusChange(c, before.centers[c].status, view.status, view.why)
                for c, view in after.centers.items()
                if view.status != before.centers[c].status
            ),
            link_changes=tuple(
                LinkChange(key, before.links[key].state, view.state)
                for key, view in after.links.items()
                if view.state != before.links[key].state
            ),
            incidents_before=incidents_before,
            incidents=self._findings(evidence, picture, judging),
            capacity_unreachable=_capacity_lost(before, after),
            capacity_regained=_capacity_lost(after, before),
            lost_core=tuple(
                c
                for c, view in before.centers.items()
                if view.connected and not after.centers[c].connected
            ),
        )

    def _findings(
        self, records: Mapping[str, CenterRecord], picture: Picture, judging: Judging
    ) -> tuple[Finding, ...]:
        if not self.incidents or judging.blind:
            return ()
        elements = failed_elements(picture.status, failing_links(picture))
        if not elements:
            return ()

        def available(center: str) -> dict[str, float]:
            return {name: r.available for name, r in records[center].capacity.items()}

        circumstances = Circumstances(
            tier=self.index.tier,
            region=self.region,
            neighbours=self.index.neighbours,
            available=available,
        )
        return tuple(
            picture_findings(self.index, records, judging, picture, elements, circumstances)
        )


def _capacity_lost(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """Available capacity of the centers counted in ``before`` and not in ``after`` (summed in
    registry order, every resource)."""
    lost = dict.fromkeys(RESOURCES, 0.0)
    for center, view in before.centers.items():
        if counts_capacity(view) and not counts_capacity(after.centers[center]):
            for name, amount in view.capacity.items():
                lost[name] = lost.get(name, 0.0) + amount.available
    return lost
