"""JSON shapes of the HTTP API, built from a ``Snapshot`` and the registry, and the status page's
palette stylesheet (no I/O).

The shapes are described by ``monitor/openapi.json``; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from agents.protocol import RESOURCES, Resource
from monitor.registry import CenterSpec, LinkSpec, Registry
from monitor.service.events import Event
from monitor.service.maintenance import MaintenanceEntry
from monitor.service.reload import ReloadOutcome
from monitor.status.capacity import ResourceTotal, capacity_totals
from monitor.status.failures import Damage, Ranking
from monitor.status.model import (
    CenterView,
    FailedElement,
    Finding,
    Incident,
    LinkEvent,
    LinkView,
    ProbeView,
    RootCause,
    Snapshot,
    StatusEvent,
)
from monitor.status.palette import LINK_COLOURS, STATUS_COLOURS, STATUS_MARKS, STATUS_TEXT_COLOURS
from monitor.status.planner import Candidate
from monitor.status.suggestions import FailureFix, RedundancyFix, Suggestion
from monitor.status.whatif import Scenario, WhatIf

Json = dict[str, Any]

# The Node Graph arc each status fills; the node's ``color`` comes from the status palette.
_ARCS: Final = {
    "connected": "arc__connected",
    "degraded": "arc__degraded",
    "stale": "arc__degraded",
    "isolated": "arc__failed",
    "down": "arc__failed",
    "unreachable": "arc__failed",
    "maintenance": "arc__unknown",
    "unknown": "arc__unknown",
}
ARC_FIELDS: Final = ("arc__connected", "arc__degraded", "arc__failed", "arc__unknown")


def header(snapshot: Snapshot) -> Json:
    """Fields every snapshot-derived answer starts with."""
    return {
        "generation": snapshot.generation,
        "evaluated_at": snapshot.evaluated_at,
        "blind": snapshot.blind,
    }


def root_cause_json(cause: RootCause | None) -> Json | None:
    """A root cause: kind, ids and the label used in metrics."""
    if cause is None:
        return None
    return {"kind": cause.kind, "ids": list(cause.ids), "label": cause.label}


def capacity_json(capacity: Mapping[str, Resource]) -> Json:
    """Capacity by resource: ``{"gpus": {"total": 8, "available": 3}, ...}``."""
    return {name: {"total": r.total, "available": r.available} for name, r in capacity.items()}


def center_json(spec: CenterSpec, view: CenterView) -> Json:
    """One center: registry facts and everything derived about it."""
    out: Json = {
        "id": spec.id,
        "name": spec.name,
        "tier": spec.tier,
        "region": spec.region,
        "province": spec.province,
        "location": {"lat": spec.location.lat, "lon": spec.location.lon},
    }
    out.update(
        status=view.status,
        connected=view.connected,
        live=view.live,
        never_seen=view.never_seen,
        why=view.why,
        root_cause=root_cause_json(view.root_cause),
        session=view.session,
        heartbeat_interval_s=view.heartbeat_interval_s,
        last_heartbeat_at=view.last_heartbeat_at,
        clock_skew_s=view.clock_skew_s,
        capacity=capacity_json(view.capacity),
        capacity_at=view.capacity_at,
        single_point_of_failure=view.single_point_of_failure,
        dependents=view.dependents,
        partition=view.partition,
        in_maintenance=view.in_maintenance,
        incidents=list(view.incidents),
    )
    return out


def probe_json(probe: ProbeView) -> Json:
    """One probe result."""
    return {
        "source": probe.source,
        "target": probe.target,
        "reachable": probe.reachable,
        "rtt_s": probe.rtt_s,
        "loss_ratio": probe.loss_ratio,
        "received_at": probe.received_at,
        "fresh": probe.fresh,
    }


def link_view(spec: LinkSpec, snapshot: Snapshot) -> LinkView:
    """The snapshot's view of a registered link (``unknown`` in the initial snapshot, which is
    taken before the first evaluation and holds no links)."""
    view = snapshot.links.get(spec.key)
    if view is None:
        a, b = spec.key
        return LinkView(a=a, b=b, state="unknown", bandwidth_gbps=spec.bandwidth_gbps)
    return view


def link_json(spec: LinkSpec, snapshot: Snapshot) -> Json:
    """One link: its state, graph role, quality and the probes across it."""
    a, b = spec.key
    view = link_view(spec, snapshot)
    probes = [snapshot.probes[k] for k in ((a, b), (b, a)) if k in snapshot.probes]
    return {
        "a": a,
        "b": b,
        "state": view.state,
        "usable": view.usable,
        "bandwidth_gbps": spec.bandwidth_gbps,
        "bridge": view.bridge,
        "dependents": view.dependents,
        "rtt_s": view.rtt_s,
        "loss_ratio": view.loss_ratio,
        "incident": view.incident,
        "in_maintenance": view.in_maintenance,
        "probes": [probe_json(p) for p in probes],
    }


def center_detail_json(spec: CenterSpec, snapshot: Snapshot, registry: Registry) -> Json:
    """One center with its links (seen from it) and the events buffer's view of it."""
    out = center_json(spec, snapshot.centers[spec.id])
    links = []
    for link in registry.links:
        if spec.id not in (link.a, link.b):
            continue
        entry = link_json(link, snapshot)
        entry["peer"] = link.b if link.a == spec.id else link.a
        links.append(entry)
    out["links"] = links
    return out


def topology_json(snapshot: Snapshot, registry: Registry) -> Json:
    """The federation as node-link JSON (networkx ``node_link_data`` layout)."""
    nodes = []
    for spec in registry.centers:
        view = snapshot.centers[spec.id]
        nodes.append(
            {
                "id": spec.id,
                "name": spec.name,
                "tier": spec.tier,
                "region": spec.region,
                "lat": spec.location.lat,
                "lon": spec.location.lon,
                "status": view.status,
                "connected": view.connected,
                "live": view.live,
                "core": spec.id in snapshot.core,
                "single_point_of_failure": view.single_point_of_failure,
            }
        )
    links = []
    for spec_link in registry.links:
        link = link_json(spec_link, snapshot)
        link["source"] = link.pop("a")
        link["target"] = link.pop("b")
        del link["probes"]
        links.append(link)
    return {
        "directed": False,
        "multigraph": False,
        "graph": {
            **header(snapshot),
            "core": sorted(snapshot.core),
            "partitions": snapshot.partitions,
        },
        "nodes": nodes,
        "links": links,
    }


def nodegraph_json(snapshot: Snapshot, registry: Registry) -> Json:
    """Nodes and edges frames for Grafana's Node Graph panel."""
    nodes = []
    for spec in registry.centers:
        view = snapshot.centers[spec.id]
        status = view.status
        node: Json = {
            "id": spec.id,
            "title": spec.id,
            "subTitle": spec.name,
            "mainStat": status,
            "secondaryStat": f"{spec.tier}, {spec.region}",
            "color": STATUS_COLOURS[status],
            "detail__tier": spec.tier,
            "detail__region": spec.region,
            "detail__why": view.why,
            # The geomap's network layer places each node at these (the map of the overview).
            "detail__latitude": spec.location.lat,
            "detail__longitude": spec.location.lon,
        }
        node.update(dict.fromkeys(ARC_FIELDS, 0.0))
        node[_ARCS[status]] = 1.0
        nodes.append(node)
    edges = []
    for spec_link in registry.links:
        a, b = spec_link.key
        link = link_view(spec_link, snapshot)
        state, rtt = link.state, link.rtt_s
        edges.append(
            {
                "id": f"{a}--{b}",
                "source": a,
                "target": b,
                "mainStat": state,
                "secondaryStat": f"{rtt * 1000:.1f} ms" if rtt is not None else "",
                "color": LINK_COLOURS[state],
                "detail__bandwidth_gbps": spec_link.bandwidth_gbps,
                "detail__bridge": link.bridge,
            }
        )
    return {"nodes": nodes, "edges": edges}


def palette_css() -> str:
    """The status palette as CSS custom properties: ``--status-down``, ``--status-down-text``,
    ``--status-down-mark`` (a CSS string), ..., ``--link-up``, ...

    The status page links it before its own stylesheet, which uses only these properties; its
    script reads the statuses and link states from them too.
    """
    lines = ["/* dcmon status palette, generated from monitor/status/palette.py */", ":root {"]
    for status, colour in STATUS_COLOURS.items():
        lines.append(f"  --status-{status}: {colour};")
        lines.append(f"  --status-{status}-text: {STATUS_TEXT_COLOURS[status]};")
        lines.append(f"  --status-{status}-mark: {_css_string(STATUS_MARKS[status])};")
    lines.extend(f"  --link-{state}: {colour};" for state, colour in LINK_COLOURS.items())
    lines.append("}")
    return "\n".join(lines) + "\n"


def _css_string(text: str) -> str:
    """``text`` as an ASCII CSS string: every non-ASCII character escaped (``"\\d7 "``)."""
    escaped = "".join(c if c.isascii() and c not in '"\\' else f"\\{ord(c):x} " for c in text)
    return f'"{escaped}"'


def spof_json(snapshot: Snapshot) -> Json:
    """Articulation centers and bridge links, each with the centers it would cut off."""
    centers = []
    links = []
    for spof in snapshot.spof:
        entry: Json = {"cut_off": list(spof.cut_off), "cut_off_count": len(spof.cut_off)}
        if spof.kind == "center":
            centers.append({"id": spof.ids[0], **entry})
        else:
            links.append({"a": spof.ids[0], "b": spof.ids[1], **entry})
    return {**header(snapshot), "centers": centers, "links": links}


def event_json(event: Event) -> Json:
    """One event: a center's status transition, a link's state change or an incident change."""
    if isinstance(event, StatusEvent):
        return {
            "type": "center",
            "seq": event.seq,
            "at": event.at,
            "center": event.center,
            "old": event.old,
            "new": event.new,
            "why": event.why,
        }
    if isinstance(event, LinkEvent):
        return {
            "type": "link",
            "seq": event.seq,
            "at": event.at,
            "a": event.a,
            "b": event.b,
            "old": event.old,
            "new": event.new,
            "incident": event.incident,
        }
    return {
        "type": "incident",
        "seq": event.seq,
        "at": event.at,
        "incident": event.incident,
        "change": event.change,
        "kind": event.kind,
        "severity": event.severity,
        "summary": event.summary,
    }


def incident_json(incident: Incident) -> Json:
    """One incident (DESIGN §9): what failed, who suffers, what it costs, and its lifecycle."""
    return {
        "id": incident.id,
        "state": incident.state,
        **finding_json(incident.finding),
        "opened_at": incident.opened_at,
        "updated_at": incident.updated_at,
        "resolved_at": incident.resolved_at,
        "flaps": incident.flaps,
    }


def finding_json(finding: Finding) -> Json:
    """What an incident is, without its identity and lifecycle (also a what-if's incidents)."""
    impact = finding.impact
    return {
        "kind": finding.kind,
        "severity": finding.severity,
        "tier": finding.tier,
        "summary": finding.summary,
        "elements": {
            "centers": list(finding.centers),
            "links": [{"a": a, "b": b} for a, b in finding.links],
        },
        "victims": [
            {"center": victim.center, "status": victim.status, "tier": victim.tier}
            for victim in finding.victims
        ],
        "impact": {
            "victims_by_status": dict(impact.victims_by_status),
            "victims_by_tier": dict(impact.victims_by_tier),
            "capacity_unreachable": dict(impact.capacity_unreachable),
            "capacity_at_risk": dict(impact.capacity_at_risk),
        },
    }


def scenario_json(imagined: Scenario) -> Json:
    """A what-if's question, as the API takes it."""
    return {
        "base": imagined.base,
        "down": list(imagined.down),
        "cut": [[a, b] for a, b in imagined.cut],
        "repair": [e.ids[0] if e.kind == "center" else list(e.ids) for e in imagined.repair],
    }


def whatif_json(outcome: WhatIf, registry: Registry) -> Json:
    """A what-if's answer (DESIGN §10): what would change, the incidents that would exist, the
    connected ratios and the capacity before and after. Nothing of it is live."""
    before, after = outcome.before, outcome.after
    specs = registry.centers_by_id
    capacity_before = capacity_totals(before, registry, ())
    capacity_after = capacity_totals(after, registry, ())
    return {
        "evaluated_at": outcome.evaluated_at,
        "scenario": scenario_json(outcome.scenario),
        "changes": [
            {
                "center": change.center,
                "tier": specs[change.center].tier,
                "region": specs[change.center].region,
                "from": change.before,
                "to": change.after,
                "why": change.why,
            }
            for change in outcome.changes
        ],
        "link_changes": [
            {"a": change.key[0], "b": change.key[1], "from": change.before, "to": change.after}
            for change in outcome.link_changes
        ],
        "incidents": [
            {**finding_json(finding), "new": outcome.is_new(finding)}
            for finding in outcome.incidents
        ],
        "lost_core": list(outcome.lost_core),
        "connected_ratio": {
            "before": dict(before.connected_ratio),
            "after": dict(after.connected_ratio),
        },
        "status_counts": {
            "before": dict(before.status_counts),
            "after": dict(after.status_counts),
        },
        "capacity": {
            "unreachable": dict(outcome.capacity_unreachable),
            "regained": dict(outcome.capacity_regained),
            "before": _resource_totals(capacity_before.overall),
            "after": _resource_totals(capacity_after.overall),
        },
        "centers": {center: view.status for center, view in after.centers.items()},
        "links": {f"{a}--{b}": view.state for (a, b), view in after.links.items()},
    }


def _resource_totals(totals: Mapping[str, ResourceTotal]) -> Json:
    return {
        name: {"total": totals[name].total, "available": totals[name].available}
        for name in RESOURCES
        if name in totals
    }


def capacity_totals_json(snapshot: Snapshot, registry: Registry) -> Json:
    """Capacity over connected live centers with a report, overall and by tier/region/partition.

    A silent agent's capacity is not counted, whatever its status (DESIGN §5).
    """
    totals = capacity_totals(snapshot, registry)
    return {
        **header(snapshot),
        "resources": list(RESOURCES),
        "centers": list(totals.centers),
        "all": _resource_totals(totals.overall),
        "by_tier": {k: _resource_totals(v) for k, v in totals.by_tier.items()},
        "by_region": {k: _resource_totals(v) for k, v in sorted(totals.by_region.items())},
        "by_partition": {str(k): _resource_totals(v) for k, v in totals.by_partition.items()},
        "query": None,
        "candidates": None,
    }


def candidate_json(candidate: Candidate, registry: Registry, snapshot: Snapshot) -> Json:
    """One planner candidate with its path from the query's origin."""
    spec = registry.centers_by_id[candidate.center]
    return {
        "center": candidate.center,
        "tier": spec.tier,
        "region": spec.region,
        "status": snapshot.centers[candidate.center].status,
        "available": candidate.available,
        "total": candidate.total,
        "path": list(candidate.path),
        "hops": candidate.hops,
        "path_rtt_ms": candidate.path_rtt_s * 1000,
        "rtt_estimated": candidate.rtt_estimated,
        "bottleneck_gbps": candidate.bottleneck_bandwidth_gbps,
    }


def element_json(element: FailedElement) -> Json:
    """A failed element: ``{"kind": "center", "id": …}`` or ``{"kind": "link", "a": …, "b": …}``."""
    if element.kind == "link":
        return {"kind": "link", "a": element.ids[0], "b": element.ids[1]}
    return {"kind": element.kind, "id": element.ids[0]}


def damage_json(rank: int, damage: Damage) -> Json:
    """One ranked failure: what it is and what it would do to the healthy federation."""
    return {
        "rank": rank,
        "label": damage.label,
        "elements": [element_json(e) for e in damage.elements],
        "lost_core": len(damage.lost_core),
        "lost_core_centers": list(damage.lost_core),
        "lost_core_by_tier": dict(damage.lost_core_by_tier),
        "capacity_unreachable": dict(damage.capacity_unreachable),
        "capacity_share": damage.capacity_share,
        "lost_redundancy": len(damage.lost_redundancy),
        "lost_redundancy_centers": list(damage.lost_redundancy),
    }


def ranking_json(ranking: Ranking, limit: int) -> Json:
    """The ``limit`` worst failures of a ranking, worst first."""
    return {
        "k": ranking.k,
        "evaluated": ranking.evaluated,
        "failures": [damage_json(i, d) for i, d in enumerate(ranking.failures[:limit], 1)],
    }


def _fix_json(fix: RedundancyFix | FailureFix) -> Json:
    if isinstance(fix, RedundancyFix):
        return {
            "kind": "redundancy",
            "center": fix.center,
            "single_point": "--".join(fix.single_point),
        }
    return {
        "kind": "double_failure",
        "failure": fix.label,
        "elements": [element_json(e) for e in fix.elements],
        "lost_core_before": fix.lost_core_before,
        "lost_core_after": fix.lost_core_after,
        "regained": list(fix.regained),
        "capacity_share_before": fix.capacity_share_before,
        "capacity_share_after": fix.capacity_share_after,
    }


def suggestion_json(rank: int, suggestion: Suggestion) -> Json:
    """One suggested link and what it would fix (each assumes the ones before it are built)."""
    return {
        "rank": rank,
        "a": suggestion.a,
        "b": suggestion.b,
        "distance_km": round(suggestion.distance_km, 1),
        "fixes": [_fix_json(f) for f in suggestion.fixes],
    }


def maintenance_json(entry: MaintenanceEntry, now: float) -> Json:
    """One maintenance window with its state at ``now``."""
    return {**entry.row(), "state": entry.state(now)}


def reload_json(outcome: ReloadOutcome) -> Json:
    """What a successful reload changed."""
    return {
        "status": "success",
        "at": outcome.at,
        "registry_changed": outcome.registry_changed,
        "settings_changed": outcome.settings_changed,
        "added": list(outcome.added),
        "removed": list(outcome.removed),
        "needs_restart": list(outcome.needs_restart),
    }
