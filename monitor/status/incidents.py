"""Incidents (DESIGN §9): one per real problem, derived from an evaluation's picture.

The failed elements are the down centers, the down links whose ends are not down, and the stale
centers (their agent is dead, the site works). The victims of an element are the centers whose
status would become strictly better if that element alone were repaired, everything else
unchanged; the engine's own rules answer that (``counterfactual_statuses``), so a victim is
exactly what the aggregator would report once the repair really happens. Elements that share a
victim belong to one incident. Pure: no I/O, the time comes in as an argument.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from monitor.registry import TIERS, LinkKey
from monitor.status.model import (
    FailedElement,
    Finding,
    Impact,
    Incident,
    IncidentChange,
    IncidentKind,
    Severity,
    Status,
    Victim,
)

LOST_CORE: Final[frozenset[Status]] = frozenset({"isolated", "unreachable", "down"})
"""Statuses of a center that lost the core (a victim in one of them makes an incident critical)."""
_RANK: Final[Mapping[Status, int]] = {
    "isolated": 0,
    "unreachable": 0,
    "down": 0,
    "degraded": 1,
    "stale": 2,
    "connected": 2,
}
"""How well a status serves users; ``maintenance`` and ``unknown`` are not ranked."""


EXPLAINS_ITS_LINKS: Final[frozenset[Status]] = frozenset({"down", "maintenance"})
"""A down link with an end in one of these statuses is that center's, not a failed element."""


def rank(status: Status) -> int | None:
    """0 lost the core, 1 lost redundancy, 2 fine (stale ranks with connected); None: unranked."""
    return _RANK.get(status)


@dataclass(frozen=True, slots=True)
class Circumstances:
    """What the deriver needs to know about the federation besides the statuses."""

    tier: Mapping[str, str]
    region: Mapping[str, str]
    neighbours: Mapping[str, tuple[str, ...]]
    available: Callable[[str], Mapping[str, float]]
    """A center's last reported available capacity, by resource."""


@dataclass(frozen=True, slots=True)
class Reach:
    """The usable graph of the evaluation: who reaches the core, and the components."""

    reach: Collection[str]
    """Centers in the core's reach."""
    component: Mapping[str, int]
    """Component of every forwarding center (live, stale, or with a usable link)."""
    national_components: Collection[int]
    """Components holding a live national center (their merging may move the core)."""


WhatIf = Callable[[Collection[str], Collection[LinkKey]], Mapping[str, Status]]
"""Statuses were these centers live and these links up (the engine's counterfactual)."""


# --- derivation -----------------------------------------------------------------------------------


def failed_elements(
    status: Mapping[str, Status], down_links: Iterable[LinkKey]
) -> list[FailedElement]:
    """Down centers, down links whose ends are neither down nor in maintenance (those are the
    center's own business), stale centers' agents (sorted)."""
    found = [
        FailedElement("center" if s == "down" else "agent", (center,))
        for center, s in status.items()
        if s in ("down", "stale")
    ]
    found.extend(
        FailedElement("link", key)
        for key in down_links
        if status.get(key[0]) not in EXPLAINS_ITS_LINKS
        and status.get(key[1]) not in EXPLAINS_ITS_LINKS
    )
    return sorted(found)


def repair_of(
    element: FailedElement,
    status: Mapping[str, Status],
    neighbours: Mapping[str, tuple[str, ...]],
) -> tuple[list[str], list[LinkKey]]:
    """The centers to make live and the links to put up to repair ``element``.

    A repaired down center comes back with its links as they were before it failed: a link it
    shares with a neighbour that is not itself down counts as up.
    """
    if element.kind == "link":
        return [], [(element.ids[0], element.ids[1])]
    center = element.ids[0]
    links: list[LinkKey] = []
    for peer in neighbours.get(center, ()):
        if status.get(peer) != "down":
            links.append((center, peer) if center < peer else (peer, center))
    return [center], links


def derive_findings(
    status: Mapping[str, Status],
    elements: Sequence[FailedElement],
    what_if: WhatIf,
    circumstances: Circumstances,
    reach: Reach | None = None,
) -> list[Finding]:
    """Every incident of these failed elements, without identities (sorted by elements)."""
    victims = victims_by_element(elements, status, what_if, circumstances, reach)
    return [describe(group, victims, status, circumstances) for group in group_elements(victims)]


def affected_regions(
    elements: Sequence[FailedElement],
    status: Mapping[str, Status],
    neighbours: Mapping[str, tuple[str, ...]],
) -> dict[str, int]:
    """Centers that are not ``connected`` (and the elements' ends), by region of the registry
    graph among them.

    A repair can only help centers of its own region: every path between two regions passes
    through connected centers, which no single failure separates from the core, so a repair in
    one region neither adds a path around another region's single point of failure nor reaches
    a center cut off in another. Repairs in different regions can therefore be judged together.
    """
    members = {c for c, s in status.items() if s != "connected"}
    members.update(c for e in elements for c in e.ids)
    region: dict[str, int] = {}
    for start in sorted(members):
        if start in region:
            continue
        number = len(region)
        region[start] = number
        stack = [start]
        while stack:
            center = stack.pop()
            for peer in neighbours.get(center, ()):
                if peer in members and peer not in region:
                    region[peer] = number
                    stack.append(peer)
    return region


def victims_by_element(
    elements: Sequence[FailedElement],
    status: Mapping[str, Status],
    what_if: WhatIf,
    circumstances: Circumstances,
    reach: Reach | None = None,
) -> dict[FailedElement, list[str]]:
    """The victims of every element: one counterfactual per round of repairs.

    Elements in different ``affected_regions`` are repaired together (one element per region
    and round), so a thousand scattered failures cost a few evaluations, not a thousand. A
    region holding a national center is judged one element at a time: a repair there may
    change the core itself, which concerns everyone.
    """
    neighbours = circumstances.neighbours
    region = affected_regions(elements, status, neighbours)
    victims: dict[FailedElement, list[str]] = {e: [] for e in elements if e.kind == "agent"}
    national_regions = {
        region[c] for c, tier in circumstances.tier.items() if tier == "national" and c in region
    }
    queues: dict[int, list[FailedElement]] = {}
    alone: list[FailedElement] = []
    for element in elements:
        if element.kind == "agent":
            continue  # a dead agent at a working site cuts nobody off
        known = _link_victims(element, reach) if reach is not None else None
        if known is not None:
            victims[element] = known
            continue
        home = region[element.ids[0]]
        if home in national_regions:
            alone.append(element)
        else:
            queues.setdefault(home, []).append(element)
    rounds = [[e] for e in alone]
    depth = max((len(q) for q in queues.values()), default=0)
    rounds.extend([q[i] for q in queues.values() if i < len(q)] for i in range(depth))
    for batch in rounds:
        live: list[str] = []
        links: list[LinkKey] = []
        for element in batch:
            more_live, more_links = repair_of(element, status, neighbours)
            live.extend(more_live)
            links.extend(more_links)
        after = what_if(live, links)
        helped = _helped(status, after)
        if len(batch) == 1:
            victims[batch[0]] = helped
            continue
        for element in batch:
            home = region[element.ids[0]]
            victims[element] = [c for c in helped if region.get(c) == home]
    return victims


def _link_victims(element: FailedElement, graph: Reach) -> list[str] | None:
    """The victims of a down link read off the usable graph, when no repair needs computing.

    A link from the core's reach to a cut-off component gives that whole component the core
    back (its live centers connect, its silent ones turn stale) and removes no one else's
    single point of failure (it is the component's only way in). A link between two cut-off
    components gives nobody the core. Links inside the reach (they may remove single points of
    failure) and merges that may move the core need the counterfactual: ``None``.
    """
    if element.kind != "link":
        return None
    a, b = element.ids
    inside = [end in graph.reach for end in (a, b)]
    if all(inside):
        return None
    outside_components = [
        graph.component.get(end) for end, within in ((a, inside[0]), (b, inside[1])) if not within
    ]
    if any(c is not None and c in graph.national_components for c in outside_components):
        return None  # a cut-off group of nationals joining may move the core
    if not any(inside):
        return []
    outside = b if inside[0] else a
    home = graph.component.get(outside)
    if home is None:
        return None  # cannot happen (its neighbour saw it down: then it is down), but be exact
    return sorted(c for c, n in graph.component.items() if n == home)


def _helped(before: Mapping[str, Status], after: Mapping[str, Status]) -> list[str]:
    """Centers whose status ranks strictly better ``after`` than ``before``."""
    helped = []
    for center, now in before.items():
        before_rank, after_rank = rank(now), rank(after.get(center, now))
        if before_rank is not None and after_rank is not None and after_rank > before_rank:
            helped.append(center)
    return helped


def group_elements(
    victims: Mapping[FailedElement, Sequence[str]],
) -> list[tuple[FailedElement, ...]]:
    """Elements that share a victim, transitively; an element without victims stands alone."""
    parent = {e: e for e in victims}

    def root(e: FailedElement) -> FailedElement:
        while parent[e] != e:
            parent[e] = parent[parent[e]]
            e = parent[e]
        return e

    first_of: dict[str, FailedElement] = {}
    for element in sorted(victims):
        for center in victims[element]:
            other = first_of.setdefault(center, element)
            a, b = root(other), root(element)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[FailedElement, list[FailedElement]] = {}
    for element in sorted(victims):
        groups.setdefault(root(element), []).append(element)
    return [tuple(g) for g in sorted(groups.values())]


def describe(
    elements: Sequence[FailedElement],
    victims_of_element: Mapping[FailedElement, Sequence[str]],
    status: Mapping[str, Status],
    circumstances: Circumstances,
) -> Finding:
    """Kind, severity, tier, summary and impact of one group of elements."""
    centers = sorted({c for e in elements for c in victims_of_element[e]})
    victims = tuple(Victim(c, status[c], circumstances.tier[c]) for c in centers)
    lost = [v for v in victims if v.status in LOST_CORE]
    at_risk = [v for v in victims if v.status == "degraded"]
    kind = _kind(elements, lost)
    if lost:
        severity: Severity = "critical"
    elif at_risk or kind == "agent":
        severity = "warning"
    else:
        severity = "info"
    tiers = [v.tier for v in victims] + [
        circumstances.tier[c] for e in elements for c in e.ids if c in circumstances.tier
    ]
    impact = Impact(
        victims_by_status=dict(sorted(Counter(v.status for v in victims).items())),
        victims_by_tier=dict(sorted(Counter(v.tier for v in victims).items())),
        capacity_unreachable=_capacity(lost, circumstances),
        capacity_at_risk=_capacity(at_risk, circumstances),
    )
    return Finding(
        kind=kind,
        severity=severity,
        tier=_highest_tier(tiers),
        summary=_summary(kind, elements, lost, at_risk, circumstances),
        elements=tuple(elements),
        victims=victims,
        impact=impact,
    )


def _kind(elements: Sequence[FailedElement], lost: Sequence[Victim]) -> IncidentKind:
    if len(elements) == 1:
        return elements[0].kind
    if all(e.kind == "link" for e in elements) and lost:
        return "partition"
    return "compound"


def _highest_tier(tiers: Iterable[str]) -> str:
    order = {tier: i for i, tier in enumerate(TIERS)}
    return min(tiers, key=lambda t: order.get(t, len(order)), default="provincial")


def _capacity(victims: Sequence[Victim], circumstances: Circumstances) -> dict[str, float]:
    totals: dict[str, float] = {}
    for victim in victims:
        for resource, amount in circumstances.available(victim.center).items():
            totals[resource] = totals.get(resource, 0.0) + amount
    return dict(sorted(totals.items()))


def _centers_phrase(n: int) -> str:
    return "1 center" if n == 1 else f"{n} centers"


def _summary(
    kind: IncidentKind,
    elements: Sequence[FailedElement],
    lost: Sequence[Victim],
    at_risk: Sequence[Victim],
    circumstances: Circumstances,
) -> str:
    failed = {c for e in elements if e.kind == "center" for c in e.ids}
    others_lost = [v for v in lost if v.center not in failed]
    damage = _damage(len(at_risk), len(others_lost))
    if kind == "agent":
        center = elements[0].ids[0]
        return (
            f"{center}'s agent is silent but the center still works (stale): "
            "its status, capacity and probes are not reported"
        )
    if kind == "center":
        return f"{elements[0].label} is down: {damage}"
    if kind == "link":
        if not lost and not at_risk:
            return f"the link {elements[0].label} is down: nobody lost anything yet (redundant)"
        return f"the link {elements[0].label} is down: {damage}"
    if kind == "partition":
        return (
            f"{_cut_off_phrase([v.center for v in lost], circumstances)} cut off "
            f"({len(elements)} links down): {damage}"
        )
    names = ", ".join(e.label for e in elements[:4]) + (", …" if len(elements) > 4 else "")
    links = sum(1 for e in elements if e.kind == "link")
    down = len(elements) - links
    parts = [p for p in (_count(down, "center"), _count(links, "link")) if p]
    return f"{' and '.join(parts)} failed ({names}): {damage}"


def _damage(at_risk: int, lost: int) -> str:
    """``20 centers lost redundancy, 0 lost the core`` (DESIGN §9's wording), shorter when
    nobody lost redundancy."""
    if at_risk:
        return f"{_centers_phrase(at_risk)} lost redundancy, {lost} lost the core"
    if lost:
        return f"{_centers_phrase(lost)} lost the core"
    return "no other center lost anything"


def _count(n: int, noun: str) -> str:
    return "" if n == 0 else f"1 {noun}" if n == 1 else f"{n} {noun}s"


def _cut_off_phrase(centers: Sequence[str], circumstances: Circumstances) -> str:
    """``region central is`` when the cut-off set is exactly whole regions, else the centers."""
    regions = sorted({circumstances.region[c] for c in centers})
    members = {r: {c for c, region in circumstances.region.items() if region == r} for r in regions}
    if centers and set(centers) == set().union(*members.values()):
        if len(regions) == 1:
            return f"region {regions[0]} is"
        return f"regions {', '.join(regions)} are"
    shown = ", ".join(sorted(centers)[:5]) + (", …" if len(centers) > 5 else "")
    return f"{shown} {'is' if len(centers) == 1 else 'are'}"


# --- identity and lifecycle -------------------------------------------------------------------


@dataclass
class IncidentTracker:
    """Gives findings stable ids across evaluations and runs their lifecycle (DESIGN §9).

    A finding sharing elements with an open incident continues it; when findings merge, the
    oldest id survives; when an incident splits, the finding keeping most of its elements keeps
    the id. An incident none of whose elements failed any more is resolved; one that comes back
    (shares an element) within ``hold_down_s`` of resolving is reopened with ``flaps`` + 1.
    """

    hold_down_s: float = 120.0
    history: int = 1000
    """Resolved incidents kept for the API."""
    next_number: int = 1
    open: dict[str, Incident] = field(default_factory=dict)
    resolved: list[Incident] = field(default_factory=list)

    def update(
        self, now: float, findings: Sequence[Finding]
    ) -> list[tuple[IncidentChange, Incident]]:
        """Fold one evaluation's findings in; returns what opened, changed, resolved, reopened."""
        claims = self._claims(findings)
        changes: list[tuple[IncidentChange, Incident]] = []
        kept: dict[str, Incident] = {}
        for i, finding in enumerate(findings):
            ids = sorted(claims.get(i, []), key=self._age)
            if ids:
                incident = self.open[ids[0]]
                kept[incident.id] = Incident(
                    id=incident.id,
                    state="open",
                    finding=finding,
                    opened_at=incident.opened_at,
                    updated_at=now if incident.finding != finding else incident.updated_at,
                    flaps=incident.flaps,
                )
                if incident.finding != finding:
                    changes.append(("updated", kept[incident.id]))
                continue
            reopened = self._reopen(now, finding)
            fresh = reopened or self._new(now, finding)
            kept[fresh.id] = fresh
            changes.append(("reopened" if reopened else "opened", fresh))
        for incident_id, incident in self.open.items():
            if incident_id not in kept:
                changes.append(("resolved", self._resolve(now, incident)))
        self.open = kept
        return changes

    def _age(self, incident_id: str) -> tuple[float, int]:
        incident = self.open[incident_id]
        return (incident.opened_at, int(incident_id.removeprefix("inc-")))

    def _claims(self, findings: Sequence[Finding]) -> dict[int, list[str]]:
        """Which open incident continues in which finding (most shared elements wins)."""
        claims: dict[int, list[str]] = {}
        for incident_id, incident in self.open.items():
            mine = set(incident.finding.elements)
            best: tuple[int, int] | None = None
            for i, finding in enumerate(findings):
                shared = len(mine & set(finding.elements))
                if shared and (best is None or shared > best[0]):
                    best = (shared, i)
            if best is not None:
                claims.setdefault(best[1], []).append(incident_id)
        return claims

    def _new(self, now: float, finding: Finding) -> Incident:
        incident_id = f"inc-{self.next_number}"
        self.next_number += 1
        return Incident(incident_id, "open", finding, opened_at=now, updated_at=now)

    def _reopen(self, now: float, finding: Finding) -> Incident | None:
        elements = set(finding.elements)
        for i in range(len(self.resolved) - 1, -1, -1):
            incident = self.resolved[i]
            if incident.resolved_at is None or now - incident.resolved_at > self.hold_down_s:
                continue
            if elements & set(incident.finding.elements):
                del self.resolved[i]
                return Incident(
                    incident.id,
                    "open",
                    finding,
                    opened_at=incident.opened_at,
                    updated_at=now,
                    flaps=incident.flaps + 1,
                )
        return None

    def _resolve(self, now: float, incident: Incident) -> Incident:
        resolved = Incident(
            incident.id,
            "resolved",
            incident.finding,
            opened_at=incident.opened_at,
            updated_at=now,
            resolved_at=now,
            flaps=incident.flaps,
        )
        self.resolved.append(resolved)
        del self.resolved[: max(0, len(self.resolved) - self.history)]
        return resolved


def cause_phrase(finding: Finding) -> str:
    """What failed, as a clause: ``hub-central is down``, ``the link a--b is down``."""
    first = finding.elements[0]
    if finding.kind == "center":
        return f"{first.label} is down"
    if finding.kind == "link":
        return f"the link {first.label} is down"
    if finding.kind == "agent":
        return f"{first.label}'s agent is silent"
    labels = ", ".join(e.label for e in finding.elements[:3])
    more = ", …" if len(finding.elements) > 3 else ""
    return f"{len(finding.elements)} failures ({labels}{more})"


def membership(
    incidents: Iterable[Incident],
) -> tuple[dict[str, tuple[str, ...]], dict[LinkKey, str]]:
    """Centers -> the incidents they are an element or a victim of; failed links -> incident."""
    centers: dict[str, list[str]] = {}
    links: dict[LinkKey, str] = {}
    for incident in incidents:
        finding = incident.finding
        involved = {v.center for v in finding.victims} | set(finding.centers)
        for center in involved:
            centers.setdefault(center, []).append(incident.id)
        for key in finding.links:
            links[key] = incident.id
    return {c: tuple(ids) for c, ids in centers.items()}, links


def why_with_incident(status: Status, why: str, incident: Incident) -> str:
    """A victim's ``why``, naming the incident's cause first (DESIGN §9)."""
    if status in LOST_CORE:
        lost = "lost the core"
    elif status == "degraded":
        lost = "lost redundancy"
    else:
        return why
    head = f"{lost} because {cause_phrase(incident.finding)} ({incident.id})"
    return f"{head}; {why}" if why else head
