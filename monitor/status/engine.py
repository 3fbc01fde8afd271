"""The status engine: decoded messages and an injected clock in, ``Snapshot``s out (no I/O).

The engine keeps the evidence per center (``monitor.status.evidence``), knows when the picture
may have changed (an input that changes liveness or link verdicts, or a deadline: a heartbeat
window or a probe report's freshness running out, a grace period ending, a maintenance window
starting or ending) and re-derives statuses only then (``monitor.status.evaluation``). A heartbeat
of a center that is already live changes only measured values, which ``evaluate`` folds in
cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import partial
from typing import Final

from agents.protocol import AggregatorState, Heartbeat, LinkReport, Message, RejectReason
from monitor.registry import Registry
from monitor.status.deadlines import Deadlines
from monitor.status.evaluation import Judging, Picture, derive, failing_links, picture_findings
from monitor.status.evidence import SESSION_SKEW_S, CenterRecord, Change
from monitor.status.federation import FederationIndex
from monitor.status.incidents import Circumstances, IncidentTracker, failed_elements
from monitor.status.maintenance import MaintenanceWindow, in_maintenance
from monitor.status.model import (
    FailedElement,
    Finding,
    Incident,
    IncidentChange,
    Snapshot,
    Status,
    link_key,
)
from monitor.status.snapshots import QualityLimits, SnapshotBuilder
from monitor.status.whatif import Evaluator, Scenario, WhatIf

__all__ = [
    "INLINE_CENTERS",
    "INLINE_ELEMENTS",
    "EngineSettings",
    "IncidentJob",
    "MaintenanceWindow",
    "StatusEngine",
    "status_of",
]


@dataclass(frozen=True)
class EngineSettings:
    """Evidence rules of the status engine."""

    heartbeat_misses: int = 3
    default_heartbeat_interval_s: float = 5.0
    probe_fresh_s: float = 30.0
    """A probe report counts while younger than this (or 3 announced probe intervals)."""
    degraded_rtt_s: float | None = None
    degraded_loss_ratio: float | None = 0.2
    maintenance: tuple[MaintenanceWindow, ...] = ()
    """The windows known at start (``StatusEngine.set_maintenance`` replaces them at runtime)."""
    session_skew_s: float = SESSION_SKEW_S
    """A session number beyond the aggregator's clock (ms) plus this is "from the future"."""
    incidents: bool = True
    """Derive incidents on every evaluation (off only to measure what they cost)."""
    defer_incidents: bool = False
    """Leave each derivation of more than ``INLINE_ELEMENTS`` failures (or in a federation of
    more than ``INLINE_CENTERS``) as a job (``take_incident_job``) for the caller to run off its
    event loop and apply (``apply_incidents``); a thousand failures at once take seconds."""
    incident_hold_down_s: float = 120.0
    """An incident that comes back this soon after resolving is reopened (a flap), not new."""
    agent_reconnect_cap_s: float = 30.0
    """The agents' longest reconnect backoff: after a blind spell, grace lasts this much longer
    (unless every center live before it is back sooner), so a broker outage that outlasts one
    heartbeat window does not declare the federation down while agents are still backing off."""


INLINE_ELEMENTS: Final = 16
"""With ``defer_incidents``, this many failed elements or fewer are still derived at once (a few
evaluations' work): their incidents come with the evaluation that saw them fail."""
INLINE_CENTERS: Final = 20_000
"""…in a federation of at most this many centers (beyond it one counterfactual takes ~1 s)."""


@dataclass(frozen=True)
class IncidentJob:
    """One incident derivation: pure work over an evaluation's picture, safe to run anywhere.

    It reads the picture (never changed after its evaluation) and the evidence records (which
    later messages may update while it runs: the next evaluation derives again in any case).
    """

    basis: tuple[list[FailedElement], dict[str, Status]]
    """The failed elements and statuses it derives from."""
    derive: Callable[[], list[Finding]]

    def run(self) -> list[Finding]:
        """Derive the findings (seconds for a thousand failures at 10,000 centers)."""
        return self.derive()


class StatusEngine:
    """Derives every registered center's status from the messages it is fed (DESIGN §2).

    Three parts, each owning its state: the evidence per center (``CenterRecord``), the
    deadlines (``Deadlines``) and the snapshots (``SnapshotBuilder``); the engine itself keeps
    only the bookkeeping that decides when and how much to re-derive.
    """

    def __init__(self, registry: Registry, settings: EngineSettings, *, started_at: float) -> None:
        """Start with no evidence, in a grace period of one heartbeat window from ``started_at``."""
        self._settings = settings
        self._maintenance = settings.maintenance
        self._records: dict[str, CenterRecord] = {}
        self._index_registry(registry, {})
        self._deadlines = Deadlines()
        self._push_maintenance(self._maintenance)
        self._snapshots = SnapshotBuilder(self._index, self._records, self._limits())
        self._blind = False
        self._grace_start: float | None = started_at
        self._grace_pushed: float | None = None
        self._welcome: dict[str, float] = {}
        """Centers registered at runtime (``reload``), with the time they were added."""
        self._welcome_pushed: float | None = None
        self._dirty = True
        """An input or a deadline may have changed the picture: re-derive at the next turn."""
        self._touched: set[str] = set()
        """Centers whose reports changed or went stale since the last evaluation."""
        self._changed_values: set[str] = set()
        """Centers whose measured values changed since the last snapshot."""
        self._judged_live: set[str] = set()
        """Centers the last evaluation treated as live."""
        self._awaited: frozenset[str] = frozenset()
        """Centers live before the monitor went blind, not all back yet since it reconnected."""
        self._grace_extra_s = 0.0
        """How much longer than one heartbeat window the current grace period lasts."""
        self._picture: Picture | None = None
        self._incidents = IncidentTracker(hold_down_s=settings.incident_hold_down_s)
        self._findings_basis: tuple[list[FailedElement], dict[str, Status]] | None = None
        self._findings: list[Finding] = []
        self._incident_changes: list[tuple[IncidentChange, Incident]] = []
        self._incident_job: IncidentJob | None = None
        self._snapshot = self._snapshots.initial(started_at)

    def _limits(self) -> QualityLimits:
        s = self._settings
        return QualityLimits(s.probe_fresh_s, s.degraded_rtt_s, s.degraded_loss_ratio)

    def _index_registry(self, registry: Registry, kept: Mapping[str, CenterRecord]) -> None:
        """Index ``registry``: evidence records (``kept`` ones reused, new ones empty) and the
        parts that read the registry (what-if, incident circumstances)."""
        self._index = FederationIndex.of(registry)
        self._records = {
            center: kept.get(center) or CenterRecord(center) for center in self._index.ids
        }
        region = {c.id: c.region for c in registry.centers}
        self._what_if = Evaluator(
            self._index, region, self._limits(), incidents=self._settings.incidents
        )
        self._circumstances = Circumstances(
            tier=self._index.tier,
            region=region,
            neighbours=self._index.neighbours,
            available=self._available,
        )

    def _push_maintenance(self, windows: Iterable[MaintenanceWindow]) -> None:
        for window in windows:
            label = "--".join(window.ids)
            self._deadlines.push(window.start, "maintenance", label)
            self._deadlines.push(window.end, "maintenance", label)

    # --- changes at runtime (DESIGN §11) ---------------------------------------------------

    @property
    def in_grace(self) -> bool:
        """Whether a grace period after the start or a reconnect is running (as of the last
        evaluation)."""
        return self._grace_start is not None and not self._blind

    @property
    def maintenance(self) -> tuple[MaintenanceWindow, ...]:
        """The maintenance windows in force (past, present and future)."""
        return self._maintenance

    def set_maintenance(self, windows: Iterable[MaintenanceWindow]) -> None:
        """Replace the maintenance windows; statuses change at each window's start and end."""
        self._maintenance = tuple(windows)
        self._push_maintenance(self._maintenance)
        self._dirty = True

    def reload(self, registry: Registry, settings: EngineSettings, now: float) -> None:
        """Take a new registry and settings at ``now`` without forgetting what is known.

        Centers still registered keep their evidence (no grace, no blind spell); new ones are
        ``unknown`` and never seen until heard, or for one heartbeat window of their own; removed
        ones are gone from the next snapshot. ``settings.maintenance`` is ignored: the windows
        are those of ``set_maintenance``.
        """
        self._settings = settings
        self._index_registry(registry, self._records)
        ids = self._index.position
        added = [c for c in self._index.ids if c not in self._snapshot.centers]
        self._welcome = {c: t for c, t in self._welcome.items() if c in ids}
        self._welcome.update(dict.fromkeys(added, now))
        self._judged_live &= ids.keys()
        self._awaited = frozenset(c for c in self._awaited if c in ids)
        self._touched = {c for c in self._touched if c in ids}
        self._changed_values = {c for c in self._changed_values if c in ids}
        self._incidents.hold_down_s = settings.incident_hold_down_s
        self._snapshots = self._snapshots.reindexed(self._index, self._records, self._limits())
        self._snapshot = self._snapshots.carried_over(now, self._snapshot)
        # Windows may now be shorter or longer: every deadline is queued again.
        self._deadlines = Deadlines()
        self._push_maintenance(self._maintenance)
        for center in self._judged_live:
            self._schedule_alive(self._records[center])
        for record in self._records.values():
            self._schedule_fresh(record)
        for at in (self._grace_pushed, self._welcome_pushed):
            if at is not None:
                self._deadlines.push(at, "grace")
        self._picture = None  # judge every link again, against the new registry
        self._findings_basis = None
        self._incident_job = None
        self._dirty = True

    # --- inputs ----------------------------------------------------------------------------

    def ingest(self, message: Message, received_at: float) -> RejectReason | None:
        """Apply one decoded message received at ``received_at``; None if accepted."""
        payload = message.payload
        if isinstance(payload, AggregatorState):
            return None
        record = self._records.get(message.source)
        if record is None:
            return RejectReason.UNREGISTERED_CENTER
        before_probes_at = record.probes_at
        before_fresh = record.probes_fresh(received_at, self._settings.probe_fresh_s)
        reject, change = record.apply(message, received_at, self._settings.session_skew_s)
        if reject is not None:
            return reject
        if change is Change.VALUES:
            if isinstance(payload, Heartbeat) and record.id not in self._judged_live:
                change = Change.PICTURE  # a heartbeat that may bring the center back
            elif isinstance(payload, LinkReport):
                change = self._links_change(record, before_fresh and before_probes_at is not None)
        if (
            change is Change.VALUES
            and isinstance(payload, LinkReport)
            and record.id in self._awaited
            and not self._blind
        ):
            change = Change.PICTURE  # it may be the report the extended grace waits for
        if change is Change.PICTURE:
            self._dirty = True
            self._touched.add(record.id)
            self._changed_values.add(record.id)  # session, interval: refresh its view
        elif change is Change.VALUES:
            self._changed_values.add(record.id)
            if isinstance(payload, LinkReport):
                self._touched.add(record.id)  # new RTTs: judge its links' values again
        if record.probes_at == received_at and before_probes_at != received_at:
            self._schedule_fresh(record)
        return None

    def _links_change(self, record: CenterRecord, was_fresh: bool) -> Change:
        if record.id not in self._judged_live or not was_fresh or self._picture is None:
            return Change.PICTURE
        if self._settings.degraded_rtt_s is None and self._settings.degraded_loss_ratio is None:
            return Change.VALUES
        # Quality verdicts may have flipped: compare against the last evaluation's links.
        for peer, probe in record.probes.items():
            link = self._picture.links.get(link_key(record.id, peer))
            if link is None:
                continue
            if self._breaches(probe.rtt_s, probe.effective_loss, probe.reachable) != link.breach:
                return Change.PICTURE
        return Change.VALUES

    def _breaches(self, rtt_s: float | None, loss: float, reachable: bool) -> bool:
        s = self._settings
        if not reachable:
            return False
        return (
            s.degraded_rtt_s is not None and rtt_s is not None and rtt_s > s.degraded_rtt_s
        ) or (s.degraded_loss_ratio is not None and loss > s.degraded_loss_ratio)

    def broker_lost(self, at: float) -> None:
        """The aggregator lost its broker: blind, every status ``unknown``."""
        del at
        if not self._blind:
            self._blind = True
            self._dirty = True
            self._awaited |= self._judged_live

    def broker_restored(self, at: float) -> None:
        """The broker is back: a grace period starts at ``at``.

        It lasts one heartbeat window, plus the agents' reconnect cap after a blind spell unless
        every center that was live before it is back (and has reported its links) sooner:
        agents that lost the broker too back off before reconnecting, and a reconnect is never a
        reason to declare one down.
        """
        self._blind = False
        self._grace_start = at
        self._grace_extra_s = self._settings.agent_reconnect_cap_s if self._awaited else 0.0
        self._dirty = True

    # --- deadlines -------------------------------------------------------------------------

    def _schedule_alive(self, record: CenterRecord) -> None:
        until = record.alive_until(
            self._settings.heartbeat_misses, self._settings.default_heartbeat_interval_s
        )
        if until is not None:
            self._deadlines.push_once(until, "alive", record.id)

    def _schedule_fresh(self, record: CenterRecord) -> None:
        if record.probes_at is not None:
            self._deadlines.push_once(
                record.probes_at + record.fresh_for(self._settings.probe_fresh_s),
                "fresh",
                record.id,
            )

    def _process_deadlines(self, now: float) -> None:
        """Pop every deadline that passed; mark the picture dirty only for real expiries."""
        s = self._settings
        for kind, center in self._deadlines.pop_due(now):
            if kind in ("grace", "maintenance"):
                self._dirty = True
                continue
            record = self._records[center]
            if kind == "alive":
                if record.is_live(now, s.heartbeat_misses, s.default_heartbeat_interval_s):
                    self._schedule_alive(record)  # heartbeats moved the deadline on
                elif center in self._judged_live:
                    self._dirty = True
                    self._touched.add(center)
            elif record.probes_fresh(now, s.probe_fresh_s):
                self._schedule_fresh(record)
            elif record.probes_at is not None:
                self._dirty = True
                self._touched.add(center)

    def needs_evaluation(self, now: float) -> bool:
        """Whether an input changed the picture or a deadline passed since the last evaluation."""
        self._process_deadlines(now)
        return self._dirty

    def next_deadline(self) -> float | None:
        """The earliest time at which the picture may change without any new input."""
        return self._deadlines.next_at()

    # --- what-if ---------------------------------------------------------------------------

    @property
    def index(self) -> FederationIndex:
        """The registry, indexed (what a what-if ``scenario`` is checked against)."""
        return self._index

    def copy_evidence(self, chunk: int) -> Iterator[dict[str, CenterRecord]]:
        """Copies of the evidence records, ``chunk`` at a time (a caller on an event loop can
        let other work run between chunks: 10,000 copies take ~20 ms)."""
        ids = self._index.ids
        for start in range(0, len(ids), chunk):
            yield {center: self._records[center].copy() for center in ids[start : start + chunk]}

    def what_if(
        self,
        imagined: Scenario,
        now: float,
        evidence: Mapping[str, CenterRecord] | None = None,
    ) -> Callable[[], WhatIf]:
        """A job computing ``imagined``'s outcome (DESIGN §10) from the evidence at ``now``.

        The job works on copies (``evidence`` from ``copy_evidence``, or taken here), so it may
        run off the event loop while messages keep arriving; it never changes the engine.
        Running it raises ``ParameterError`` for ``base: current`` while the monitor is blind.
        """
        if evidence is None:
            evidence = {
                c: r for part in self.copy_evidence(len(self._records)) for c, r in part.items()
            }
        return partial(self._what_if.evaluate, imagined, evidence, self._judging(now))

    def restore_incidents(
        self, open_incidents: Iterable[Incident], resolved: Iterable[Incident], next_number: int
    ) -> None:
        """Continue a previous run's incidents (from the state store, before the first
        evaluation): they stay open through grace, and a failure that continues keeps its id
        and ``opened_at``."""
        self._incidents.restore(open_incidents, resolved, next_number)
        self._dirty = True

    # --- evaluation ------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        """The latest snapshot."""
        return self._snapshot

    def evaluate(self, now: float) -> Snapshot:
        """Re-derive the picture if needed and return the new snapshot (cheap if unchanged)."""
        self._process_deadlines(now)
        if self._dirty:
            self._snapshot = self._full_evaluation(now)
        elif self._changed_values and self._picture is not None:
            self._snapshot = self._snapshots.refresh_values(
                now, self._picture, self._snapshot, self._changed_values
            )
            self._changed_values.clear()
        return self._snapshot

    def _all_back(self, live: AbstractSet[str]) -> bool:
        """Whether every center live before the blind spell is live again and, if it has
        neighbours to probe, has sent a links report since: until then its links are unknown
        only for want of reports, and ending the grace period would call centers cut off."""
        start = self._grace_start
        if start is None or not self._awaited <= live:
            return False
        for center in self._awaited:
            reported = self._records[center].probes_at
            if self._index.neighbours[center] and (reported is None or reported < start):
                return False
        return True

    def _end_extended_grace(self, now: float) -> None:
        """Every center live before the blind spell is back and has reported its links: grace
        ends one heartbeat window from now, or at its usual end if that is later."""
        self._awaited = frozenset()
        if self._grace_extra_s and self._grace_start is not None:
            extra = max(0.0, now - self._grace_start)
            if extra < self._grace_extra_s:
                self._grace_extra_s = extra
                self._dirty = True

    def _judging(self, now: float) -> Judging:
        s = self._settings
        inside = in_maintenance(self._maintenance, now)
        grace = self._grace_start
        return Judging(
            now=now,
            misses=s.heartbeat_misses,
            default_interval_s=s.default_heartbeat_interval_s,
            probe_fresh_s=s.probe_fresh_s,
            degraded_rtt_s=s.degraded_rtt_s,
            degraded_loss_ratio=s.degraded_loss_ratio,
            blind=self._blind,
            grace_start=grace,
            grace_window_s=self._grace_window() if grace is not None else 0.0,
            grace_extra_s=self._grace_extra_s,
            maintenance=frozenset(c for c in inside.centers if c in self._records),
            maintenance_links=frozenset(k for k in inside.links if k in self._index.link_by_key),
            welcome=self._welcome,
        )

    def _grace_window(self) -> float:
        """One heartbeat window: misses x the longest announced (or the default) interval."""
        s = self._settings
        longest = max(
            (r.heartbeat_interval_s or 0.0 for r in self._records.values()),
            default=0.0,
        )
        return s.heartbeat_misses * max(s.default_heartbeat_interval_s, longest)

    def _available(self, center: str) -> dict[str, float]:
        return {name: r.available for name, r in self._records[center].capacity.items()}

    def _track_incidents(self, now: float, judging: Judging, picture: Picture) -> None:
        """Derive this picture's incidents (unless its failures and statuses are unchanged)."""
        status = picture.status
        elements = failed_elements(status, failing_links(picture))
        basis = self._findings_basis
        if basis is not None and basis[0] == elements and basis[1] == status:
            self._incident_job = None  # still as last derived: nothing (more) to compute
            self._incident_changes = self._incidents.update(now, self._findings)
            return
        job = IncidentJob(
            basis=(elements, dict(status)),
            derive=partial(self._derive_findings, judging, picture, elements),
        )
        big = len(elements) > INLINE_ELEMENTS or len(status) > INLINE_CENTERS
        if self._settings.defer_incidents and big:
            self._incident_job = job  # the caller runs it off the event loop, then applies it
            return
        self._findings = job.run()
        self._findings_basis = job.basis
        self._incident_changes = self._incidents.update(now, self._findings)

    def _derive_findings(
        self, judging: Judging, picture: Picture, elements: list[FailedElement]
    ) -> list[Finding]:
        return picture_findings(
            self._index, self._records, judging, picture, elements, self._circumstances
        )

    def take_incident_job(self) -> IncidentJob | None:
        """The incident derivation the last evaluation left to run (``defer_incidents``)."""
        job, self._incident_job = self._incident_job, None
        return job

    def apply_incidents(
        self, job: IncidentJob, findings: list[Finding], now: float
    ) -> Snapshot | None:
        """Fold in the findings of a deferred ``job``; None if the picture moved on since (a
        newer job is then pending) or the monitor is blind."""
        picture = self._picture
        if picture is None or self._blind or picture.status != job.basis[1]:
            return None
        if failed_elements(picture.status, failing_links(picture)) != job.basis[0]:
            return None
        self._findings, self._findings_basis = findings, job.basis
        changes = self._incidents.update(now, findings)
        self._snapshot = self._snapshots.with_incidents(
            now, picture, self._snapshot, self._incidents, changes
        )
        return self._snapshot

    def _full_evaluation(self, now: float) -> Snapshot:
        previous = self._picture
        judging = self._judging(now)
        if previous is not None and previous.maintenance_links != judging.maintenance_links:
            previous = None  # every link view shows whether it is in maintenance: build anew
        picture = derive(self._index, self._records, judging, previous, self._touched)
        self._picture = picture
        self._dirty = False
        changed: set[str] | None = None
        if previous is not None:
            changed = (
                self._touched
                | (picture.live ^ previous.live)
                | (picture.provisional ^ previous.provisional)
            )
        newly_live = picture.live - self._judged_live
        self._judged_live = set(picture.live)
        if self._awaited and not self._blind and self._all_back(picture.live):
            self._end_extended_grace(now)
        self._touched = set()
        for center in newly_live:
            self._schedule_alive(self._records[center])
        if picture.welcome_until is not None and picture.welcome_until != self._welcome_pushed:
            self._welcome_pushed = picture.welcome_until
            self._deadlines.push(picture.welcome_until, "grace")
        self._welcome = {c: t for c, t in self._welcome.items() if c in picture.provisional}
        if picture.grace_until is not None:
            if picture.grace_until != self._grace_pushed:
                self._grace_pushed = picture.grace_until
                self._deadlines.push(picture.grace_until, "grace")
        elif not self._blind:
            self._grace_start = None
            self._awaited = frozenset()
            self._grace_extra_s = 0.0
        if self._settings.incidents and not self._blind and picture.grace_until is None:
            self._track_incidents(now, judging, picture)  # frozen while blind or in grace
        snapshot = self._snapshots.full(
            now,
            picture,
            self._snapshot,
            self._blind,
            changed,
            self._changed_values,
            self._incidents,
            self._incident_changes,
        )
        self._incident_changes = []
        self._changed_values.clear()
        return snapshot


def status_of(snapshot: Snapshot) -> Mapping[str, Status]:
    """Every center's status in ``snapshot`` (registry order)."""
    return {center: view.status for center, view in snapshot.centers.items()}
