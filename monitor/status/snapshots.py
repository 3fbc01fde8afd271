"""Snapshots: the engine's ``Picture`` and evidence as frozen views, reusing unchanged ones.

A full build follows an evaluation; a value refresh folds measured values (heartbeat times,
RTTs, capacity) into the previous snapshot without re-deriving statuses. Either way a view whose
inputs did not change is the very object of the previous snapshot, which lets the metrics
renderer skip it with one identity comparison.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from agents.protocol import Probe
from monitor.status.evaluation import LinkJudgement, Picture, judge_link
from monitor.status.evidence import CenterRecord
from monitor.status.federation import FederationIndex
from monitor.status.incidents import IncidentTracker, membership, why_with_incident
from monitor.status.model import (
    CONNECTED_STATUSES,
    STATUSES,
    CenterView,
    Incident,
    IncidentChange,
    IncidentEvent,
    LinkEvent,
    LinkKey,
    LinkView,
    ProbeView,
    RootCause,
    SinglePointOfFailure,
    Snapshot,
    Status,
    StatusEvent,
    link_key,
)

MONITOR_CAUSE: Final = RootCause("monitor", ())


@dataclass(frozen=True, slots=True)
class QualityLimits:
    """How fresh a links report must be to count, and the link-quality thresholds."""

    probe_fresh_s: float
    degraded_rtt_s: float | None
    degraded_loss_ratio: float | None


class SnapshotBuilder:
    """Builds successive snapshots of one federation; owns generations and event numbers."""

    def __init__(
        self,
        index: FederationIndex,
        records: Mapping[str, CenterRecord],
        limits: QualityLimits,
    ) -> None:
        self._index = index
        self._records = records
        self._limits = limits
        self._generation = 0
        self._event_seq = itertools.count(1)
        self._bridges_shown: set[LinkKey] = set()
        self._incident_links_shown: set[LinkKey] = set()
        self._rebuilt_links: list[LinkKey] = []
        self._involved_shown: set[str] = set()
        """The links whose views the last full build made anew (only they may have changed)."""
        self._probe_view_basis: dict[str, tuple[float, bool, int | None]] = {}

    def initial(self, now: float) -> Snapshot:
        """Every center ``unknown``: nothing has been evaluated yet."""
        centers = {
            center: CenterView(
                id=center,
                status="unknown",
                live=False,
                never_seen=True,
                why="the monitor has not evaluated yet",
                root_cause=MONITOR_CAUSE,
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

    def reindexed(
        self, index: FederationIndex, records: Mapping[str, CenterRecord], limits: QualityLimits
    ) -> SnapshotBuilder:
        """A builder for a changed registry that goes on with this one's numbering."""
        builder = SnapshotBuilder(index, records, limits)
        builder._generation = self._generation
        builder._event_seq = self._event_seq
        return builder

    def carried_over(self, now: float, previous: Snapshot) -> Snapshot:
        """``previous`` cut to this builder's registry: the views of centers, links and probes
        still registered, and new centers ``unknown`` and never seen (a new generation)."""
        index = self._index
        fresh = self.initial(now).centers
        self._generation += 1
        return replace(
            previous,
            generation=self._generation,
            centers={c: previous.centers.get(c) or fresh[c] for c in index.ids},
            links={k: v for k, v in previous.links.items() if k in index.link_by_key},
            probes={
                pair: view
                for pair, view in previous.probes.items()
                if pair[0] in index.position and pair[1] in index.neighbours[pair[0]]
            },
            transitions=(),
            link_transitions=(),
            incident_changes=(),
        )

    def _registered(
        self, found: tuple[dict[str, tuple[str, ...]], dict[LinkKey, str]]
    ) -> tuple[dict[str, tuple[str, ...]], dict[LinkKey, str]]:
        """Incident membership of registered centers and links only (an incident of a center
        removed at runtime still names it until it resolves)."""
        involved, failed_links = found
        position, links = self._index.position, self._index.link_by_key
        return (
            {c: ids for c, ids in involved.items() if c in position},
            {k: i for k, i in failed_links.items() if k in links},
        )

    # --- after an evaluation -------------------------------------------------------------------

    def full(  # noqa: PLR0917 - the engine's one call
        self,
        now: float,
        picture: Picture,
        previous: Snapshot,
        blind: bool,
        changed: Collection[str] | None,
        values: Collection[str],
        incidents: IncidentTracker,
        incident_changes: Sequence[tuple[IncidentChange, Incident]] = (),
    ) -> Snapshot:
        """The snapshot of a new ``picture``.

        Args:
            now: evaluation time.
            picture: what the evaluation derived.
            previous: the last snapshot (its unchanged views are reused).
            blind: whether the monitor has no broker.
            changed: centers whose reports, liveness or provisional state changed (None: all).
            values: centers whose measured values changed since the last snapshot.
            incidents: the open and recently resolved incidents.
        """
        self._generation += 1
        involved, failed_links = self._registered(membership(incidents.open.values()))
        centers = self._center_views(picture, previous.centers, values, involved, incidents.open)
        self._involved_shown = set(involved)
        events: list[StatusEvent] = []
        for center, view in centers.items():
            old = previous.centers[center].status
            if old != view.status:
                events.append(
                    StatusEvent(next(self._event_seq), now, center, old, view.status, view.why)
                )
        links = self._link_views(picture, previous.links, failed_links)
        link_events = []
        for key in sorted(k for k in self._rebuilt_links if k in previous.links):
            before, after = previous.links.get(key), links[key]
            if before is not None and before.state != after.state:
                link_events.append(
                    LinkEvent(
                        next(self._event_seq),
                        now,
                        key[0],
                        key[1],
                        before.state,
                        after.state,
                        after.incident,
                    )
                )
        incident_events = self._incident_events(now, incident_changes)
        counts, ratio = self._tally(centers)
        return Snapshot(
            generation=self._generation,
            evaluated_at=now,
            blind=blind,
            centers=centers,
            links=links,
            probes=self._probe_views(now, picture, previous.probes, changed, values),
            core=frozenset(picture.core),
            partitions=picture.partitions,
            connected_ratio=ratio,
            status_counts=counts,
            spof=_spof(picture),
            transitions=tuple(events),
            incidents=dict(incidents.open),
            resolved_incidents=tuple(incidents.resolved),
            link_transitions=tuple(link_events),
            incident_changes=tuple(incident_events),
        )

    def with_incidents(
        self,
        now: float,
        picture: Picture,
        previous: Snapshot,
        incidents: IncidentTracker,
        incident_changes: Sequence[tuple[IncidentChange, Incident]],
    ) -> Snapshot:
        """``previous`` with new incidents folded in (a deferred derivation finished): the
        centers and links they concern get their incident ids and ``why`` anew."""
        self._generation += 1
        involved, failed_links = self._registered(membership(incidents.open.values()))
        centers = dict(previous.centers)
        for center in involved.keys() | self._involved_shown:
            view = centers[center]
            ids = involved.get(center, ())
            reason = picture.why.get(center, "")
            if ids:
                reason = _why_naming(center, view.status, reason, incidents.open[ids[0]])
            if view.incidents != ids or view.why != reason:
                centers[center] = replace(view, incidents=ids, why=reason)
        self._involved_shown = set(involved)
        links = dict(previous.links)
        for key in failed_links.keys() | self._incident_links_shown:
            if links[key].incident != failed_links.get(key):
                links[key] = replace(links[key], incident=failed_links.get(key))
        self._incident_links_shown = set(failed_links)
        return replace(
            previous,
            generation=self._generation,
            centers=centers,
            links=links,
            transitions=(),
            link_transitions=(),
            incidents=dict(incidents.open),
            resolved_incidents=tuple(incidents.resolved),
            incident_changes=tuple(self._incident_events(now, incident_changes)),
        )

    def _incident_events(
        self, now: float, changes: Sequence[tuple[IncidentChange, Incident]]
    ) -> list[IncidentEvent]:
        return [
            IncidentEvent(
                next(self._event_seq),
                now,
                incident.id,
                change,
                incident.kind,
                incident.severity,
                incident.summary,
            )
            for change, incident in changes
        ]

    def _tally(
        self, centers: Mapping[str, CenterView]
    ) -> tuple[dict[Status, int], dict[str, float]]:
        """Centers per status, and the connected ratio per tier and ``"all"``."""
        index = self._index
        counts: dict[Status, int] = dict.fromkeys(STATUSES, 0)
        connected_by_tier: dict[str, int] = dict.fromkeys(index.tiers, 0)
        registered_by_tier: dict[str, int] = dict.fromkeys(index.tiers, 0)
        tier_of = index.tier
        for center, view in centers.items():
            status = view.status
            counts[status] += 1
            tier = tier_of[center]
            registered_by_tier[tier] += 1
            if status in CONNECTED_STATUSES:
                connected_by_tier[tier] += 1
        ratio = {t: connected_by_tier[t] / registered_by_tier[t] for t in index.tiers}
        ratio["all"] = sum(connected_by_tier.values()) / max(1, len(centers))
        return counts, ratio

    def _center_views(
        self,
        picture: Picture,
        previous: Mapping[str, CenterView],
        values: Collection[str],
        involved: Mapping[str, tuple[str, ...]],
        incidents: Mapping[str, Incident],
    ) -> dict[str, CenterView]:
        """Views of every center, reusing the previous one where nothing changed."""
        cut = picture.resilience.cut_centers
        status_of_center, why, cause = picture.status, picture.why, picture.cause
        live, partition = picture.live, picture.partition
        views: dict[str, CenterView] = {}
        for center in self._index.ids:
            old = previous[center]
            status = status_of_center[center]
            dependents = len(cut[center]) if center in cut else 0
            ids = involved.get(center, ())
            reason = why.get(center, "")
            if ids:
                reason = _why_naming(center, status, reason, incidents[ids[0]])
            if (
                center not in values
                and old.status == status
                and old.why == reason
                and old.incidents == ids
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
                why=reason,
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
                incidents=ids,
            )
        return views

    def _link_views(
        self,
        picture: Picture,
        previous: Mapping[LinkKey, LinkView],
        failed_links: Mapping[LinkKey, str],
    ) -> dict[LinkKey, LinkView]:
        """Views of every link, reusing the previous one where nothing changed.

        A link that was not judged again keeps the measured values of its previous view (value
        refreshes keep those current between evaluations).
        """
        bridges = picture.resilience.bridges
        views: dict[LinkKey, LinkView] = dict(previous)
        rejudged = picture.rejudged
        rebuild: Collection[LinkKey]
        fresh_values: Collection[LinkKey]
        if rejudged is None or not previous:
            rebuild = fresh_values = self._index.link_by_key.keys()  # registry order
        else:
            rebuild = rejudged | set(bridges) | self._bridges_shown | self._incident_links_shown
            rebuild |= failed_links.keys()
            fresh_values = rejudged
        self._bridges_shown = set(bridges)
        self._incident_links_shown = set(failed_links)
        self._rebuilt_links = list(rebuild)
        for key in rebuild:
            judged = picture.links[key]
            lost = bridges.get(key)
            if key in fresh_values:
                rtt_s, loss_ratio = judged.rtt_s, judged.loss_ratio
            else:
                rtt_s, loss_ratio = previous[key].rtt_s, previous[key].loss_ratio
            views[key] = LinkView(
                a=key[0],
                b=key[1],
                state=judged.state,
                bandwidth_gbps=self._index.link_by_key[key].bandwidth_gbps,
                bridge=lost is not None,
                dependents=len(lost) if lost is not None else 0,
                rtt_s=rtt_s,
                loss_ratio=loss_ratio,
                incident=failed_links.get(key),
                in_maintenance=key in picture.maintenance_links,
            )
        return views

    def _probe_views(
        self,
        now: float,
        picture: Picture,
        previous: Mapping[tuple[str, str], ProbeView],
        changed: Collection[str] | None,
        values: Collection[str],
    ) -> dict[tuple[str, str], ProbeView]:
        """Views of the latest probes, rebuilt for sources whose report or freshness changed."""
        views: dict[tuple[str, str], ProbeView] = dict(previous)
        counted = picture.live | picture.provisional
        seen = self._probe_view_basis
        # Only a center whose report, liveness or freshness changed can need new probe views.
        for center in self._index.ids if changed is None else {*changed, *values}:
            record = self._records[center]
            at = record.probes_at
            if at is None:
                continue
            fresh = center in counted and record.probes_fresh(now, self._limits.probe_fresh_s)
            basis = (at, fresh, record.session)
            old = seen.get(center)
            if old == basis:
                continue
            seen[center] = basis
            if old is not None:
                for peer in self._index.neighbours[center]:
                    views.pop((center, peer), None)
            self._put_probe_views(views, record, fresh)
        return views

    def _put_probe_views(
        self, views: dict[tuple[str, str], ProbeView], record: CenterRecord, fresh: bool
    ) -> None:
        """The views of ``record``'s latest probes of registry neighbours."""
        at = record.probes_at
        if at is None:
            return
        neighbours = self._index.neighbours[record.id]
        for peer, probe in record.probes.items():
            if peer in neighbours:
                views[(record.id, peer)] = _probe_view(record.id, probe, at, fresh)

    # --- between evaluations -------------------------------------------------------------------

    def refresh_values(
        self, now: float, picture: Picture, previous: Snapshot, values: Collection[str]
    ) -> Snapshot:
        """Fold measured values (heartbeat times, RTTs, capacity) in without re-deriving."""
        centers = dict(previous.centers)
        links = dict(previous.links)
        probes = dict(previous.probes)
        limits = self._limits
        for center in values:
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
            fresh = center in picture.live and record.probes_fresh(now, limits.probe_fresh_s)
            self._put_probe_views(probes, record, fresh)
            for peer in self._index.neighbours[center]:
                key = link_key(center, peer)
                judged = self._rejudge_values(key, now, picture)
                links[key] = replace(links[key], rtt_s=judged.rtt_s, loss_ratio=judged.loss_ratio)
        self._generation += 1
        return replace(
            previous,
            generation=self._generation,
            evaluated_at=now,
            centers=centers,
            links=links,
            probes=probes,
            transitions=(),
            link_transitions=(),
            incident_changes=(),
        )

    def _rejudge_values(self, key: LinkKey, now: float, picture: Picture) -> LinkJudgement:
        limits = self._limits
        return judge_link(
            self._counted_probe(key[0], key[1], now, picture),
            self._counted_probe(key[1], key[0], now, picture),
            limits.degraded_rtt_s,
            limits.degraded_loss_ratio,
        )

    def _counted_probe(
        self, source: str, target: str, now: float, picture: Picture
    ) -> Probe | None:
        if source not in picture.live and source not in picture.provisional:
            return None
        record = self._records[source]
        if not record.probes_fresh(now, self._limits.probe_fresh_s):
            return None
        return record.probes.get(target)


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


def _spof(picture: Picture) -> tuple[SinglePointOfFailure, ...]:
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


def _why_naming(center: str, status: Status, why: str, incident: Incident) -> str:
    """``why`` with the incident first: a victim names its cause, a failed center its id."""
    if center in incident.finding.centers:
        return f"{why} ({incident.id})" if why else incident.id
    return why_with_incident(status, why, incident)
