"""Prometheus metrics of DESIGN §4 and §9 (plus the agreed extras), from the current state.

Every metric name comes from the schema below, never from payload keys, and label values only
from registry ids (or the fixed vocabularies of statuses, link states, resources, tiers and
incident kinds and severities, the engine's incident ids, and the incident summary the engine
writes from those), so a center id that is not in the registry never becomes a series. Two
collectors read the state at scrape time: ``SnapshotCollector`` (everything derived from a status
``Snapshot``) and ``AggregatorCollector`` (the aggregator's own counters and flags).
``monitor.service.exposition`` renders the snapshot part of the same schema to text much faster,
cached per snapshot generation.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

from agents.protocol import RESOURCES, Resource
from monitor.registry import TIERS, CenterSpec, LinkSpec, Registry
from monitor.status.capacity import (
    NO_CAPACITY,
    CapacityTotals,
    Grouping,
    ResourceTotal,
    capacity_totals,
)
from monitor.status.model import (
    LINK_STATES,
    STATUSES,
    CenterView,
    Incident,
    LinkView,
    ProbeView,
    Snapshot,
    Status,
)

Labels = tuple[str, ...]
Sample = tuple[Labels, float]
FamilySamples = Mapping[str, Sequence[Sample]]
"""One entity's samples by family name: every family of its group, possibly with none."""


@dataclass(frozen=True, slots=True)
class Family:
    """One declared gauge family: name, help text and label names."""

    name: str
    doc: str
    labels: Labels = ()


def _capacity_names(resource: str) -> tuple[str, str]:
    """The total and available family names of a resource (a ``_bytes`` unit stays last)."""
    unit = "_bytes" if resource.endswith("_bytes") else ""
    return f"dcmon_center_{resource}", f"dcmon_center_{resource.removesuffix(unit)}_available{unit}"


CAPACITY_FAMILY_NAMES: Final = tuple(
    (resource, *_capacity_names(resource)) for resource in RESOURCES
)
"""``(resource, total family, available family)`` of every resource."""


def _capacity_families() -> tuple[Family, ...]:
    out: list[Family] = []
    for resource, total, available in CAPACITY_FAMILY_NAMES:
        words = resource.replace("_", " ")
        out.append(Family(total, f"Total {words} of the center.", ("center",)))
        out.append(Family(available, f"Available {words} of the center.", ("center",)))
    return tuple(out)


CENTER_FAMILIES: Final = (
    Family(
        "dcmon_center_info",
        "1 per registered center, with its metadata.",
        ("center", "name", "tier", "region", "province", "latitude", "longitude"),
    ),
    Family(
        "dcmon_center_status",
        "1 for the center's current status, 0 for the others (state set).",
        ("center", "status"),
    ),
    Family(
        "dcmon_center_connected",
        "1 if the center is connected to the core (connected, degraded or stale).",
        ("center",),
    ),
    Family("dcmon_center_up", "1 while the center's agent is live.", ("center",)),
    Family(
        "dcmon_center_never_seen",
        "1 if the center was never heard from since the aggregator started knowing it.",
        ("center",),
    ),
    Family(
        "dcmon_center_last_heartbeat_timestamp_seconds",
        "Aggregator receive time of the center's last heartbeat.",
        ("center",),
    ),
    Family(
        "dcmon_center_clock_skew_seconds",
        "The agent's clock minus the aggregator's clock.",
        ("center",),
    ),
    Family(
        "dcmon_center_single_point_of_failure",
        "1 if this center's failure would cut other centers off the core.",
        ("center",),
    ),
    Family(
        "dcmon_center_dependents",
        "How many centers would lose the core if this one failed.",
        ("center",),
    ),
    *_capacity_families(),
    Family(
        "dcmon_center_incident",
        "1 per open incident the center is a failed element or a victim of.",
        ("center", "incident"),
    ),
)

LINK_FAMILIES: Final = (
    Family("dcmon_link_up", "1 if the link is usable (up or asymmetric).", ("a", "b")),
    Family(
        "dcmon_link_state",
        "1 for the link's current state, 0 for the others (state set).",
        ("a", "b", "state"),
    ),
    Family("dcmon_link_bridge", "1 if losing this link cuts centers off the core.", ("a", "b")),
    Family(
        "dcmon_link_dependents", "Centers that would lose the core if this link failed.", ("a", "b")
    ),
    Family(
        "dcmon_link_rtt_seconds",
        "Mean round-trip time of the fresh probes across the link.",
        ("a", "b"),
    ),
    Family("dcmon_link_loss_ratio", "Mean loss of the fresh probes across the link.", ("a", "b")),
    Family(
        "dcmon_link_incident",
        "1 while the link is a failed element of this open incident.",
        ("a", "b", "incident"),
    ),
    Family(
        "dcmon_link_maintenance",
        "1 while the link is inside a declared maintenance window.",
        ("a", "b"),
    ),
)

PROBE_FAMILIES: Final = (
    Family(
        "dcmon_probe_rtt_seconds",
        "Round-trip time of the latest fresh probe from source to target.",
        ("source", "target"),
    ),
    Family(
        "dcmon_probe_loss_ratio",
        "Loss ratio of the latest fresh probe from source to target.",
        ("source", "target"),
    ),
    Family(
        "dcmon_probe_success",
        "1 if the latest fresh probe from source reached target.",
        ("source", "target"),
    ),
)

INCIDENT_FAMILIES: Final = (
    Family(
        "dcmon_incident_info",
        "1 per open incident, with its kind, severity, highest tier and one-sentence summary.",
        ("incident", "kind", "severity", "tier", "summary"),
    ),
    Family(
        "dcmon_incident_victims",
        "Victims of an open incident (centers one of its repairs would help), by their status.",
        ("incident", "status"),
    ),
    Family(
        "dcmon_incident_capacity_unreachable",
        "Available capacity of the open incident's victims that lost the core, by resource.",
        ("incident", "resource"),
    ),
    Family(
        "dcmon_incident_flaps",
        "How often the open incident came back within the hold-down after resolving.",
        ("incident",),
    ),
)
"""Few series (one group per open incident): rendered with the federation families."""

FEDERATION_FAMILIES: Final = (
    Family("dcmon_federation_centers", "Number of registered centers per status.", ("status",)),
    Family(
        "dcmon_federation_connected_ratio",
        'Connected centers divided by registered centers, per tier (tier="all": all of them).',
        ("tier",),
    ),
    Family(
        "dcmon_federation_partitions",
        "Number of connected components among live (and stale) centers.",
    ),
    Family("dcmon_federation_core_centers", "Number of centers in the core."),
    Family(
        "dcmon_capacity_available",
        "Available capacity summed over connected centers with a fresh capacity report.",
        ("resource", "tier"),
    ),
    Family(
        "dcmon_capacity",
        "Total capacity of the connected centers with a fresh capacity report "
        "(promtool forbids the _total suffix on a gauge).",
        ("resource", "tier"),
    ),
    *INCIDENT_FAMILIES,
)

METRIC_GROUPINGS: Final[tuple[Grouping, ...]] = ("tier",)
"""The capacity families are by tier (and overall) only."""
VICTIM_STATUSES: Final[tuple[Status, ...]] = ("degraded", "isolated", "down", "unreachable")
"""The statuses a victim can have (the ones a repair can improve): always all four series."""
EVALUATION_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


# --- samples: by family name, per entity ---------------------------------------------------------


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def _optional(labels: Labels, value: float | None) -> list[Sample]:
    return [] if value is None else [(labels, value)]


def center_info_sample(spec: CenterSpec) -> Sample:
    """The ``dcmon_center_info`` sample of a registered center."""
    return (
        (
            spec.id,
            spec.name,
            spec.tier,
            spec.region,
            spec.province,
            repr(spec.location.lat),
            repr(spec.location.lon),
        ),
        1.0,
    )


def center_samples(spec: CenterSpec, view: CenterView) -> dict[str, list[Sample]]:
    """Samples of every ``CENTER_FAMILIES`` entry for one center, by family name."""
    cid = (spec.id,)
    status = view.status
    out: dict[str, list[Sample]] = {
        "dcmon_center_info": [center_info_sample(spec)],
        "dcmon_center_status": [((spec.id, s), _flag(s == status)) for s in STATUSES],
        "dcmon_center_connected": [(cid, _flag(view.connected))],
        "dcmon_center_up": [(cid, _flag(view.live))],
        "dcmon_center_never_seen": [(cid, _flag(view.never_seen))],
        "dcmon_center_last_heartbeat_timestamp_seconds": _optional(cid, view.last_heartbeat_at),
        "dcmon_center_clock_skew_seconds": _optional(cid, view.clock_skew_s),
        "dcmon_center_single_point_of_failure": [(cid, _flag(view.single_point_of_failure))],
        "dcmon_center_dependents": [(cid, float(view.dependents))],
        "dcmon_center_incident": [((spec.id, incident), 1.0) for incident in view.incidents],
    }
    capacity = view.capacity
    for resource, total, available in CAPACITY_FAMILY_NAMES:
        amount: Resource | None = capacity.get(resource)
        out[total] = [] if amount is None else [(cid, float(amount.total))]
        out[available] = [] if amount is None else [(cid, float(amount.available))]
    return out


def link_samples(spec: LinkSpec, view: LinkView) -> dict[str, list[Sample]]:
    """Samples of every ``LINK_FAMILIES`` entry for one registered link, by family name."""
    a, b = spec.key
    ab = (a, b)
    state = view.state
    return {
        "dcmon_link_up": [(ab, _flag(view.usable))],
        "dcmon_link_state": [((a, b, s), _flag(s == state)) for s in LINK_STATES],
        "dcmon_link_bridge": [(ab, _flag(view.bridge))],
        "dcmon_link_dependents": [(ab, float(view.dependents))],
        "dcmon_link_rtt_seconds": _optional(ab, view.rtt_s),
        "dcmon_link_loss_ratio": _optional(ab, view.loss_ratio),
        "dcmon_link_incident": [] if view.incident is None else [((a, b, view.incident), 1.0)],
        "dcmon_link_maintenance": [(ab, _flag(view.in_maintenance))],
    }


def probe_samples(probe: ProbeView) -> dict[str, list[Sample]]:
    """Samples of every ``PROBE_FAMILIES`` entry for one probe (none unless it is fresh)."""
    if not probe.fresh:
        return {
            "dcmon_probe_rtt_seconds": [],
            "dcmon_probe_loss_ratio": [],
            "dcmon_probe_success": [],
        }
    st = (probe.source, probe.target)
    return {
        "dcmon_probe_rtt_seconds": _optional(st, probe.rtt_s),
        "dcmon_probe_loss_ratio": [(st, probe.loss_ratio)],
        "dcmon_probe_success": [(st, _flag(probe.reachable))],
    }


def probe_pairs(registry: Registry) -> tuple[tuple[str, str], ...]:
    """Every ``(source, target)`` pair of registry neighbours, in exposition order.

    Registry order of the source, then of the links it is an end of: a fixed order, so the
    exposition of a probe does not move when the engine rebuilds its view.
    """
    return tuple(
        (source, target) for source, peers in registry.adjacency().items() for target in peers
    )


def registered_probes(snapshot: Snapshot, pairs: Sequence[tuple[str, str]]) -> Iterator[ProbeView]:
    """The snapshot's probes between registry neighbours, in the order of ``pairs``."""
    probes = snapshot.probes
    for pair in pairs:
        probe = probes.get(pair)
        if probe is not None:
            yield probe


def capacity_by_tier(totals: CapacityTotals) -> Iterator[tuple[str, Mapping[str, ResourceTotal]]]:
    """``(tier, totals by resource)`` of every tier of ``TIERS`` (zeros if none), then ``"all"``."""
    for tier in TIERS:
        yield tier, totals.by_tier.get(tier, NO_CAPACITY)
    yield "all", totals.overall


def federation_samples(
    snapshot: Snapshot, registry: Registry, capacity: CapacityTotals | None = None
) -> dict[str, list[Sample]]:
    """Samples of every ``FEDERATION_FAMILIES`` entry, by family name (``capacity``: the totals
    by ``METRIC_GROUPINGS``, when the caller summed them already)."""
    if capacity is None:
        capacity = capacity_totals(snapshot, registry, METRIC_GROUPINGS)
    by_tier = list(capacity_by_tier(capacity))
    return {
        "dcmon_federation_centers": [((s,), float(snapshot.status_counts[s])) for s in STATUSES],
        "dcmon_federation_connected_ratio": [
            ((tier,), ratio) for tier, ratio in snapshot.connected_ratio.items()
        ],
        "dcmon_federation_partitions": [((), float(snapshot.partitions))],
        "dcmon_federation_core_centers": [((), float(len(snapshot.core)))],
        "dcmon_capacity_available": [
            ((resource, tier), amount.available)
            for tier, by_resource in by_tier
            for resource, amount in by_resource.items()
        ],
        "dcmon_capacity": [
            ((resource, tier), amount.total)
            for tier, by_resource in by_tier
            for resource, amount in by_resource.items()
        ],
        **incident_samples(snapshot.incidents.values()),
    }


def incident_number(incident: Incident) -> int:
    """``inc-12`` -> 12: incidents are exposed in the order they were opened."""
    return int(incident.id.removeprefix("inc-"))


def incident_samples(incidents: Iterable[Incident]) -> dict[str, list[Sample]]:
    """Samples of every ``INCIDENT_FAMILIES`` entry for the open incidents, by family name.

    Only open incidents have series: a resolved incident's vanish at the next scrape.
    """
    out: dict[str, list[Sample]] = {family.name: [] for family in INCIDENT_FAMILIES}
    for incident in sorted(incidents, key=incident_number):
        iid = incident.id
        finding = incident.finding
        out["dcmon_incident_info"].append(
            ((iid, finding.kind, finding.severity, finding.tier, finding.summary), 1.0)
        )
        victims = Tally(victim.status for victim in finding.victims)
        out["dcmon_incident_victims"].extend(
            ((iid, status), float(victims[status])) for status in VICTIM_STATUSES
        )
        unreachable = finding.impact.capacity_unreachable
        out["dcmon_incident_capacity_unreachable"].extend(
            ((iid, resource), float(unreachable.get(resource, 0.0))) for resource in RESOURCES
        )
        out["dcmon_incident_flaps"].append(((iid,), float(incident.flaps)))
    return out


def snapshot_family_samples(
    snapshot: Snapshot, registry: Registry
) -> Iterator[tuple[Family, list[Sample]]]:
    """Every snapshot family with its samples, in exposition order.

    Every registered center has a view; a link has none only before the first evaluation, and a
    probe pair until its source reports: those entities have no samples yet.
    """
    centers, links = snapshot.centers, snapshot.links
    groups: tuple[tuple[Sequence[Family], Iterable[FamilySamples]], ...] = (
        (CENTER_FAMILIES, (center_samples(spec, centers[spec.id]) for spec in registry.centers)),
        (
            LINK_FAMILIES,
            (
                link_samples(spec, view)
                for spec in registry.links
                if (view := links.get(spec.key)) is not None
            ),
        ),
        (
            PROBE_FAMILIES,
            (probe_samples(p) for p in registered_probes(snapshot, probe_pairs(registry))),
        ),
        (FEDERATION_FAMILIES, (federation_samples(snapshot, registry),)),
    )
    for families, entities in groups:
        merged: dict[str, list[Sample]] = {family.name: [] for family in families}
        for samples in entities:
            for name, column in merged.items():
                column.extend(samples[name])
        for family in families:
            yield family, merged[family.name]


# --- collectors ----------------------------------------------------------------------------------


def _gauge(family: Family, samples: Iterable[Sample]) -> GaugeMetricFamily:
    metric = GaugeMetricFamily(family.name, family.doc, labels=list(family.labels))
    for labels, value in samples:
        metric.add_metric(list(labels), value)
    return metric


class SnapshotCollector(Collector):
    """Everything derived from the status engine's current ``Snapshot``, read at scrape time.

    Args:
        snapshot: returns the current snapshot.
        center_registry: the registry; only its ids become series.
        registry: the prometheus-client registry to register with (``None``: do not register).
    """

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        center_registry: Registry,
        *,
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self._snapshot = snapshot
        self._centers = center_registry
        if registry is not None:
            registry.register(self)

    def collect(self) -> Iterator[Metric]:
        """Yield one gauge family per schema entry."""
        for family, samples in snapshot_family_samples(self._snapshot(), self._centers):
            yield _gauge(family, samples)


class AggregatorState(Protocol):
    """What ``AggregatorCollector`` reads from the running aggregator."""

    @property
    def instance(self) -> str:
        """This aggregator's id."""

    @property
    def version(self) -> str:
        """dcmon's version."""

    @property
    def broker_connected(self) -> bool:
        """Whether the broker connection is up."""

    @property
    def blind(self) -> bool:
        """Whether statuses are ``unknown`` for lack of a broker."""

    @property
    def in_grace(self) -> bool:
        """Whether the start-up / reconnect grace period is running."""

    @property
    def received(self) -> Mapping[str, int]:
        """Messages received, by kind."""

    @property
    def rejected(self) -> Mapping[str, int]:
        """Messages refused, by reason."""

    @property
    def evaluation_durations(self) -> EvaluationHistogram:
        """Durations of status re-evaluations."""

    @property
    def last_reload_successful(self) -> bool:
        """Whether the last reload of the configuration succeeded."""

    @property
    def last_reload_success_at(self) -> float:
        """When the configuration was last loaded successfully (Unix seconds)."""


class EvaluationHistogram:
    """Cumulative histogram of re-evaluation durations (seconds), cheap to observe."""

    def __init__(self, buckets: Sequence[float] = EVALUATION_BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.count = 0
        self.sum = 0.0
        self.longest = 0.0

    def observe(self, seconds: float) -> None:
        """Record one evaluation."""
        self.count += 1
        self.sum += seconds
        self.longest = max(self.longest, seconds)
        for i, bound in enumerate(self.buckets):
            if seconds <= bound:
                self.counts[i] += 1
                break

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, count)`` pairs, cumulative, ending with ``+Inf``."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip(self.buckets, self.counts, strict=True):
            running += n
            out.append((repr(bound), float(running)))
        out.append(("+Inf", float(self.count)))
        return out


class AggregatorCollector(Collector):
    """The aggregator's own metrics: broker connection, blind/grace flags, ingest counters."""

    def __init__(
        self, state: AggregatorState, *, registry: CollectorRegistry | None = REGISTRY
    ) -> None:
        self._state = state
        if registry is not None:
            registry.register(self)

    def collect(self) -> Iterator[Metric]:
        """Yield the aggregator's families."""
        state = self._state
        info = GaugeMetricFamily(
            "dcmon_aggregator_info",
            "1, with the aggregator's id and version.",
            labels=["instance", "version"],
        )
        info.add_metric([state.instance, state.version], 1.0)
        yield info
        yield GaugeMetricFamily(
            "dcmon_aggregator_blind",
            "1 while the aggregator is blind (no broker): every status is unknown.",
            value=_flag(state.blind),
        )
        yield GaugeMetricFamily(
            "dcmon_aggregator_grace",
            "1 during the start-up or reconnect grace period.",
            value=_flag(state.in_grace),
        )
        yield GaugeMetricFamily(
            "dcmon_config_last_reload_successful",
            "1 if the last reload of the configuration and registry succeeded.",
            value=_flag(state.last_reload_successful),
        )
        yield GaugeMetricFamily(
            "dcmon_config_last_reload_success_timestamp_seconds",
            "When the configuration and registry were last loaded successfully.",
            value=state.last_reload_success_at,
        )
        yield GaugeMetricFamily(
            "dcmon_broker_connected",
            "1 while the aggregator holds its broker connection.",
            value=_flag(state.broker_connected),
        )
        received = CounterMetricFamily(
            "dcmon_messages_received", "MQTT messages received, by kind.", labels=["kind"]
        )
        for kind, n in state.received.items():
            received.add_metric([kind], float(n))
        yield received
        rejected = CounterMetricFamily(
            "dcmon_messages_rejected", "MQTT messages refused, by reason.", labels=["reason"]
        )
        for reason, n in state.rejected.items():
            rejected.add_metric([reason], float(n))
        yield rejected
        histogram = state.evaluation_durations
        evaluations = HistogramMetricFamily(
            "dcmon_evaluation_duration_seconds", "Time taken by status re-evaluations."
        )
        evaluations.add_metric([], histogram.cumulative(), histogram.sum)
        yield evaluations
