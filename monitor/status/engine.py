"""The status engine: decoded messages and an injected clock in, ``Snapshot``s out (no I/O).

The engine keeps the evidence per center (``monitor.status.evidence``), knows when the picture
may have changed (an input that changes liveness or link verdicts, or a deadline: a heartbeat
window or a probe report's freshness running out, a grace period ending, a maintenance window
starting or ending) and re-derives statuses only then (``monitor.status.evaluation``). A heartbeat
of a center that is already live changes only measured values, which ``evaluate`` folds in
cheaply.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final, Literal

from agents.protocol import AggregatorState, LinkReport, Message, Probe, RejectReason
from monitor.registry import Registry
from monitor.status.evaluation import Judging, Picture, derive, judge_link
from monitor.status.evidence import CenterRecord, Change
from monitor.status.federation import FederationIndex
from monitor.status.model import (
    CONNECTED_STATUSES,
    STATUSES,
    CenterView,
    LinkKey,
    LinkView,
    ProbeView,
    RootCause,
    SinglePointOfFailure,
    Snapshot,
    Status,
    StatusEvent,
)

DeadlineKind = Literal["alive", "fresh", "grace", "maintenance"]
_MONITOR: Final = RootCause("monitor", ())


@dataclass(frozen=True)
class MaintenanceWindow:
    """A declared maintenance window of one center (wall-clock seconds, ``start <= t < end``)."""

    center: str
    start: float
    end: float
    reason: str = ""


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


class StatusEngine:
    """Derives every registered center's status from the messages it is fed (DESIGN §2)."""

    def __init__(self, registry: Registry, settings: EngineSettings, *, started_at: float) -> None:
        """Start with no evidence, in a grace period of one heartbeat window from ``started_at``."""
        self._registry = registry
        self._settings = settings
        self._index = FederationIndex.of(registry)
        self._records = {center: CenterRecord(center) for center in self._index.ids}
        self._blind = False
        self._grace_start: float | None = started_at
        self._dirty = True
        self._changed_values: set[str] = set()
        self._touched: set[str] = set()
        """Centers whose reports changed or went stale since the last evaluation."""
        self._deadlines: list[tuple[float, int, DeadlineKind, str]] = []
        self._queued: set[tuple[DeadlineKind, str]] = set()
        self._tiebreak = itertools.count()
        self._event_seq = itertools.count(1)
        self._generation = 0
        for window in settings.maintenance:
            self._push(window.start, "maintenance", window.center)
            self._push(window.end, "maintenance", window.center)
        self._picture: Picture | None = None
        self._grace_pushed: float | None = None
        self._bridges_shown: set[LinkKey] = set()
        self._probe_view_basis: dict[str, tuple[float, bool, int | None]] = {}
        self._snapshot = self._initial_snapshot(started_at)

    # --- inputs ----------------------------------------------------------------------------

    def ingest(self, message: Message, received_at: float) -> RejectReason | None:
        """Apply one decoded message received at ``received_at``; None if accepted."""
        if isinstance(message.payload, AggregatorState):
            return None
        record = self._records.get(message.source)
        if record is None:
            return RejectReason.UNREGISTERED_CENTER
        before_probes_at = record.probes_at
        before_fresh = record.probes_fresh(received_at, self._settings.probe_fresh_s)
        reject, change = record.apply(message, received_at)
        if reject is not None:
            return reject
        if isinstance(message.payload, LinkReport) and change is Change.VALUES:
            change = self._links_change(record, before_fresh and before_probes_at is not None)
        if change is Change.PICTURE:
            self._dirty = True
            self._touched.add(record.id)
            self._changed_values.add(record.id)  # session, interval: refresh its view
        elif change is Change.VALUES:
            self._changed_values.add(record.id)
            if isinstance(message.payload, LinkReport):
                self._touched.add(record.id)  # new RTTs: judge its links' values again
        if record.probes_at == received_at and before_probes_at != received_at:
            self._schedule_fresh(record)
        return None

    def _links_change(self, record: CenterRecord, was_fresh: bool) -> Change:
        if not record.judged_live or not was_fresh or self._picture is None:
            return Change.PICTURE
        if self._settings.degraded_rtt_s is None and self._settings.degraded_loss_ratio is None:
            return Change.VALUES
        # Quality verdicts may have flipped: compare against the last evaluation's links.
        for peer, probe in record.probes.items():
            link = self._picture.links.get(
                (record.id, peer) if record.id < peer else (peer, record.id)
            )
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

    def broker_restored(self, at: float) -> None:
        """The broker is back: a grace period of one heartbeat window starts at ``at``."""
        self._blind = False
        self._grace_start = at
        self._dirty = True

    # --- deadlines -------------------------------------------------------------------------

    def _push(self, at: float, kind: DeadlineKind, center: str) -> None:
        heapq.heappush(self._deadlines, (at, next(self._tiebreak), kind, center))

    def _schedule_alive(self, record: CenterRecord) -> None:
        key: tuple[DeadlineKind, str] = ("alive", record.id)
        until = record.alive_until(
            self._settings.heartbeat_misses, self._settings.default_heartbeat_interval_s
        )
        if until is not None and key not in self._queued:
            self._queued.add(key)
            self._push(until, "alive", record.id)

    def _schedule_fresh(self, record: CenterRecord) -> None:
        key: tuple[DeadlineKind, str] = ("fresh", record.id)
        if record.probes_at is not None and key not in self._queued:
            self._queued.add(key)
            self._push(
                record.probes_at + record.fresh_for(self._settings.probe_fresh_s),
                "fresh",
                record.id,
            )

    def _process_deadlines(self, now: float) -> None:
        """Pop every deadline that passed; mark the picture dirty only for real expiries."""
        heap = self._deadlines
        s = self._settings
        while heap and heap[0][0] <= now:
            _, _, kind, center = heapq.heappop(heap)
            if kind in ("grace", "maintenance"):
                self._dirty = True
                continue
            record = self._records[center]
            self._queued.discard((kind, center))
            if kind == "alive":
                if record.is_live(now, s.heartbeat_misses, s.default_heartbeat_interval_s):
                    self._schedule_alive(record)  # heartbeats moved the deadline on
                elif record.judged_live:
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
        return self._deadlines[0][0] if self._deadlines else None

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
        elif self._changed_values:
            self._snapshot = self._refresh_values(now)
        return self._snapshot

    def _judging(self, now: float) -> Judging:
        s = self._settings
        in_window = frozenset(
            w.center for w in s.maintenance if w.start <= now < w.end and w.center in self._records
        )
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
            maintenance=in_window,
        )

    def _grace_window(self) -> float:
        """One heartbeat window: misses x the longest announced (or the default) interval."""
        s = self._settings
        longest = max(
            (r.heartbeat_interval_s or 0.0 for r in self._records.values()),
            default=0.0,
        )
        return s.heartbeat_misses * max(s.default_heartbeat_interval_s, longest)

    def _full_evaluation(self, now: float) -> Snapshot:
        previous = self._picture
        picture = derive(self._index, self._records, self._judging(now), previous, self._touched)
        self._picture = picture
        self._dirty = False
        if previous is None:
            changed: set[str] | None = None
            newly_live = picture.live
            lost = set()
        else:
            newly_live = picture.live - previous.live
            lost = previous.live - picture.live
            changed = (
                self._touched
                | (picture.live ^ previous.live)
                | (picture.provisional ^ previous.provisional)
            )
        self._touched = set()
        for center in lost:
            self._records[center].judged_live = False
        for center in newly_live:
            record = self._records[center]
            record.judged_live = True
            self._schedule_alive(record)
        if picture.grace_until is not None:
            if picture.grace_until != self._grace_pushed:
                self._grace_pushed = picture.grace_until
                self._push(picture.grace_until, "grace", "")
        elif not self._blind:
            self._grace_start = None
        return self._build_snapshot(now, picture, changed)

    def _refresh_values(self, now: float) -> Snapshot:
        """Fold in measured values (heartbeat times, RTTs, capacity) without re-deriving."""
        picture = self._picture
        previous = self._snapshot
        if picture is None:  # pragma: no cover - a full evaluation always comes first
            return self._full_evaluation(now)
        centers = dict(previous.centers)
        links = dict(previous.links)
        probes = dict(previous.probes)
        s = self._settings
        for center in self._changed_values:
            record = self._records[center]
            centers[center] = replace(
                centers[center],
                never_seen=not record.heard,
                session=record.session,
                last_heartbeat_at=record.last_heartbeat_at,
                clock_skew_s=record.clock_skew_s,
                capacity=record.capacity,
                capacity_at=record.capacity_at,
            )
            if record.probes_at is None:
                continue
            fresh = center in picture.live and record.probes_fresh(now, s.probe_fresh_s)
            neighbours = self._index.neighbours[center]
            for peer, probe in record.probes.items():
                if peer in neighbours:
                    probes[(center, peer)] = _probe_view(center, probe, record.probes_at, fresh)
            for peer in neighbours:
                key = (center, peer) if center < peer else (peer, center)
                judged = judge_link(
                    self._counted_probe(key[0], key[1], now, picture),
                    self._counted_probe(key[1], key[0], now, picture),
                    s.degraded_rtt_s,
                    s.degraded_loss_ratio,
                )
                picture.links[key] = judged
                links[key] = replace(links[key], rtt_s=judged.rtt_s, loss_ratio=judged.loss_ratio)
        self._changed_values.clear()
        self._generation += 1
        return replace(
            previous,
            generation=self._generation,
            evaluated_at=now,
            centers=centers,
            links=links,
            probes=probes,
            transitions=(),
        )

    def _counted_probe(
        self, source: str, target: str, now: float, picture: Picture
    ) -> Probe | None:
        if source not in picture.live and source not in picture.provisional:
            return None
        record = self._records[source]
        if not record.probes_fresh(now, self._settings.probe_fresh_s):
            return None
        return record.probes.get(target)

    # --- snapshot building -----------------------------------------------------------------

    def _initial_snapshot(self, now: float) -> Snapshot:
        centers = {
            center: CenterView(
                id=center,
                status="unknown",
                live=False,
                never_seen=True,
                why="the monitor has not evaluated yet",
                root_cause=_MONITOR,
            )
            for center in self._index.ids
        }
        counts: dict[Status, int] = dict.fromkeys(STATUSES, 0)
        counts["unknown"] = len(centers)
        return Snapshot(
            generation=0,
            evaluated_at=now,
            blind=False,
            centers=centers,
            links={},
            probes={},
            core=frozenset(),
            partitions=0,
            connected_ratio=dict.fromkeys((*self._index.tiers, "all"), 0.0),
            status_counts=counts,
            spof=(),
        )

    def _build_snapshot(self, now: float, picture: Picture, changed: set[str] | None) -> Snapshot:
        self._generation += 1
        previous = self._snapshot
        centers = self._center_views(picture, previous.centers)
        events: list[StatusEvent] = []
        for center, view in centers.items():
            old = previous.centers[center].status
            if old != view.status:
                events.append(
                    StatusEvent(next(self._event_seq), now, center, old, view.status, view.why)
                )
        counts: dict[Status, int] = dict.fromkeys(STATUSES, 0)
        connected_by_tier: dict[str, int] = dict.fromkeys(self._index.tiers, 0)
        registered_by_tier: dict[str, int] = dict.fromkeys(self._index.tiers, 0)
        tier_of = self._index.tier
        for center, view in centers.items():
            status = view.status
            counts[status] += 1
            tier = tier_of[center]
            registered_by_tier[tier] += 1
            if status in CONNECTED_STATUSES:
                connected_by_tier[tier] += 1
        ratio = {t: connected_by_tier[t] / registered_by_tier[t] for t in self._index.tiers}
        ratio["all"] = sum(connected_by_tier.values()) / max(1, len(centers))
        snapshot = Snapshot(
            generation=self._generation,
            evaluated_at=now,
            blind=self._blind,
            centers=centers,
            links=self._link_views(picture, previous.links),
            probes=self._probe_views(now, picture, previous.probes, changed),
            core=frozenset(picture.core),
            partitions=picture.partitions,
            connected_ratio=ratio,
            status_counts=counts,
            spof=self._spof(picture),
            transitions=tuple(events),
        )
        self._changed_values.clear()
        return snapshot

    def _center_views(
        self, picture: Picture, previous: Mapping[str, CenterView]
    ) -> dict[str, CenterView]:
        """Views of every center, reusing the previous one where nothing changed."""
        cut = picture.resilience.cut_centers
        values = self._changed_values
        status_of_center, why, cause = picture.status, picture.why, picture.cause
        live, partition = picture.live, picture.partition
        views: dict[str, CenterView] = {}
        for center in self._index.ids:
            old = previous[center]
            status = status_of_center[center]
            dependents = len(cut[center]) if center in cut else 0
            if (
                center not in values
                and old.status == status
                and old.why == why.get(center, "")
                and old.root_cause == cause.get(center)
                and old.live == (center in live)
                and old.dependents == dependents
                and old.partition == partition.get(center)
                and not old.never_seen
            ):
                views[center] = old
                continue
            record = self._records[center]
            views[center] = CenterView(
                id=center,
                status=status,
                live=center in live,
                never_seen=not record.heard,
                why=why.get(center, ""),
                root_cause=cause.get(center),
                session=record.session,
                heartbeat_interval_s=record.heartbeat_interval_s,
                last_heartbeat_at=record.last_heartbeat_at,
                clock_skew_s=record.clock_skew_s,
                capacity=record.capacity,
                capacity_at=record.capacity_at,
                single_point_of_failure=dependents > 0,
                dependents=dependents,
                partition=partition.get(center),
                in_maintenance=status == "maintenance",
            )
        return views

    def _link_views(
        self, picture: Picture, previous: Mapping[LinkKey, LinkView]
    ) -> dict[LinkKey, LinkView]:
        """Views of every link, reusing the previous one where nothing changed."""
        bridges = picture.resilience.bridges
        views: dict[LinkKey, LinkView] = dict(previous)
        if picture.rejudged is None or not previous:
            rebuild: set[LinkKey] = set(self._index.link_by_key)
        else:
            rebuild = picture.rejudged | set(bridges) | self._bridges_shown
        self._bridges_shown = set(bridges)
        for key in rebuild:
            judged = picture.links[key]
            lost = bridges.get(key)
            views[key] = LinkView(
                a=key[0],
                b=key[1],
                state=judged.state,
                bandwidth_gbps=self._index.link_by_key[key].bandwidth_gbps,
                bridge=lost is not None,
                dependents=len(lost) if lost is not None else 0,
                rtt_s=judged.rtt_s,
                loss_ratio=judged.loss_ratio,
            )
        if len(views) == len(self._index.links):
            return views
        return {link.key: views[link.key] for link in self._index.links}  # pragma: no cover

    def _probe_views(
        self,
        now: float,
        picture: Picture,
        previous: Mapping[tuple[str, str], ProbeView],
        changed: set[str] | None,
    ) -> dict[tuple[str, str], ProbeView]:
        """Views of the latest probes, rebuilt for sources whose report or freshness changed."""
        s = self._settings
        views: dict[tuple[str, str], ProbeView] = dict(previous)
        live, provisional = picture.live, picture.provisional
        seen = self._probe_view_basis
        # Only a center whose report, liveness or freshness changed can need new probe views.
        for center in self._index.ids if changed is None else changed | self._changed_values:
            record = self._records[center]
            at = record.probes_at
            if at is None:
                continue
            fresh = (center in live or center in provisional) and record.probes_fresh(
                now, s.probe_fresh_s
            )
            basis = (at, fresh, record.session)
            if seen.get(center) == basis:
                continue
            old = seen.get(center)
            seen[center] = basis
            if old is not None:
                for peer in self._index.neighbours[center]:
                    views.pop((center, peer), None)
            neighbours = self._index.neighbours[center]
            for peer, probe in record.probes.items():
                if peer in neighbours:
                    views[(center, peer)] = _probe_view(center, probe, at, fresh)
        return views

    def _spof(self, picture: Picture) -> tuple[SinglePointOfFailure, ...]:
        found = [
            SinglePointOfFailure("center", (center,), tuple(lost))
            for center, lost in picture.resilience.cut_centers.items()
        ]
        found.extend(
            SinglePointOfFailure("link", key, tuple(lost))
            for key, lost in picture.resilience.bridges.items()
        )
        found.sort(key=lambda s: (-len(s.cut_off), s.ids))
        return tuple(found)


def _probe_view(source: str, probe: Probe, received_at: float, fresh: bool) -> ProbeView:
    return ProbeView(
        source=source,
        target=probe.peer,
        reachable=probe.reachable,
        rtt_s=probe.rtt_s,
        loss_ratio=probe.effective_loss,
        received_at=received_at,
        fresh=fresh,
    )


def status_of(snapshot: Snapshot) -> Mapping[str, Status]:
    """Every center's status in ``snapshot`` (registry order)."""
    return {center: view.status for center, view in snapshot.centers.items()}
