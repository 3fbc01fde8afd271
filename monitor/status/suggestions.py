"""New links that would help the healthy federation most (DESIGN §10), costed by distance.

Greedy: each step suggests the candidate link that fixes most (ties: the shorter, then the
first ``link_key``), assuming the links suggested before it are built.

- **Single points of failure.** While some centers reach the core only over a single point of
  failure, a candidate's value is how many of them it frees, found exactly with one
  ``resilience`` pass with the link added; a link that would make another center lose its
  redundancy is never suggested. A center is freed by a link to any center the top of its chain
  of single points of failure does not cut off (nor that center itself), so the candidates join
  every such center to its nearest centers there; links joining another group of nationals to
  the core, and the links networkx's ``k_edge_augmentation`` (k=2, partial, weighted by
  distance) would add, are candidates too.
- **Double failures.** With none left (the shipped sample), the worst double failures
  (``rank_failures``, k=2) guide: candidates join each victim to its nearest centers that still
  reach the core during that failure (and healthy, so the core stays what it is); a candidate's
  value is how much it shrinks the total lost
  core over those failures, then their capacity share.

Distances are great circles between the registry's locations.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from agents.errors import ParameterError
from monitor.status.failures import (
    Cancelled,
    Damage,
    HealthyFederation,
    IsCancelled,
    Progress,
    damage,
    rank_failures,
    without,
)
from monitor.status.geography import great_circle_km
from monitor.status.graph import Adjacency, Resilience, components, find_core, resilience
from monitor.status.model import FailedElement, LinkKey, link_key

NEAREST: Final = 8
"""Candidate partners per center that lacks redundancy, nearest first."""
NEAREST_TO_VICTIM: Final = 4
"""Candidate partners per victim of one of the worst double failures."""
WORST: Final = 20
"""How many of the worst double failures a suggestion tries to shrink."""
CHECKED: Final = 8
"""Double-failure candidates (best estimates first) whose value is checked with ``damage``."""


@dataclass(frozen=True, slots=True)
class RedundancyFix:
    """A center that would no longer reach the core over a single point of failure only."""

    center: str
    single_point: tuple[str, ...]
    """The nearest one it hung on before: ``(center,)`` or a link ``(a, b)``."""


@dataclass(frozen=True, slots=True)
class FailureFix:
    """One of the worst double failures, whose damage the link would shrink."""

    elements: tuple[FailedElement, ...]
    lost_core_before: int
    lost_core_after: int
    regained: tuple[str, ...]
    """Centers that would keep the core during this failure thanks to the link."""
    capacity_share_before: float
    capacity_share_after: float

    @property
    def label(self) -> str:
        """``hub-central + a--b``."""
        return " + ".join(e.label for e in self.elements)


Fix = RedundancyFix | FailureFix


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A new link between two registered centers, and what it would fix."""

    a: str
    b: str
    """The ends, in ``link_key`` order."""
    distance_km: float
    fixes: tuple[Fix, ...]

    @property
    def key(self) -> LinkKey:
        """The link's id (``a < b``)."""
        return (self.a, self.b)


def suggest_links(
    fed: HealthyFederation,
    max_links: int,
    *,
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> tuple[Suggestion, ...]:
    """Up to ``max_links`` new links, each assuming the ones before it are built; fewer when no
    candidate fixes anything.

    Raises:
        ParameterError: ``max_links`` below 0.
        Cancelled: ``cancelled()`` returned True.
    """
    if max_links < 0:
        raise ParameterError("max_links", "must be at least 0")
    planner = _Planner(fed, cancelled)
    found: list[Suggestion] = []
    current = fed
    for step in range(max_links):
        planner.poll()
        structure = resilience(current.core, current.index.neighbours)
        if structure.nearest_spof:
            suggestion = planner.redundancy_step(current, structure)
        else:
            suggestion = planner.double_failure_step(current)
        if suggestion is None:
            break
        found.append(suggestion)
        current = current.with_links([suggestion.key])
        if progress is not None:
            progress((step + 1) / max_links)
    if progress is not None:
        progress(1.0)
    return tuple(found)


def _plus(adjacency: Adjacency, key: LinkKey) -> dict[str, Collection[str]]:
    """``adjacency`` with the link ``key`` added (the rest is shared)."""
    a, b = key
    out = dict(adjacency)
    out[a] = (*adjacency[a], b)
    out[b] = (*adjacency[b], a)
    return out


def _rewired(fed: HealthyFederation, adjacency: Adjacency) -> HealthyFederation:
    """``fed`` with another adjacency, for ``damage`` (reach and capacity stay the healthy ones)."""
    neighbours = {c: tuple(peers) for c, peers in adjacency.items()}
    return dataclasses.replace(fed, index=dataclasses.replace(fed.index, neighbours=neighbours))


class _Planner:
    """Distances (memoised) and the two kinds of steps."""

    def __init__(self, fed: HealthyFederation, cancelled: IsCancelled | None) -> None:
        self.cancelled = cancelled
        self.ids = fed.index.ids
        self.position = fed.index.position
        self.location = {c.id: c.location for c in fed.registry.centers}
        self._nearest: dict[str, list[str]] = {}
        self._distance: dict[LinkKey, float] = {}

    def poll(self) -> None:
        """Raise ``Cancelled`` if the caller asked for it."""
        if self.cancelled is not None and self.cancelled():
            raise Cancelled

    def distance(self, key: LinkKey) -> float:
        """Great-circle length of a link in km."""
        found = self._distance.get(key)
        if found is None:
            found = self._distance[key] = great_circle_km(
                self.location[key[0]], self.location[key[1]]
            )
        return found

    def nearest(self, center: str) -> list[str]:
        """Every other center, nearest first (ties: registry order)."""
        found = self._nearest.get(center)
        if found is None:
            found = sorted(
                (c for c in self.ids if c != center),
                key=lambda c: (self.distance(link_key(center, c)), self.position[c]),
            )
            self._nearest[center] = found
        return found

    def partners(
        self, center: str, allowed: Callable[[str], bool], neighbours: Collection[str], count: int
    ) -> list[LinkKey]:
        """Links from ``center`` to its ``count`` nearest allowed centers it has no link to."""
        out: list[LinkKey] = []
        for other in self.nearest(center):
            if allowed(other) and other not in neighbours:
                out.append(link_key(center, other))
                if len(out) == count:
                    break
        return out

    # --- single points of failure ----------------------------------------------------------

    def redundancy_step(self, fed: HealthyFederation, structure: Resilience) -> Suggestion | None:
        """The link that frees most centers from their single points of failure (and makes no
        other center that reached the core lose its redundancy)."""
        adjacency = fed.index.neighbours
        reach = frozenset(structure.reach)
        single = structure.nearest_spof
        cut_off = _cut_off_by(structure)
        component = components(self.ids, adjacency)
        national_components = {component[n] for n in fed.index.nationals}
        elsewhere = frozenset(
            c for c in self.ids if c not in reach and component[c] in national_components
        )
        candidates: dict[LinkKey, None] = {}
        nearby: dict[LinkKey, None] = {}
        for center in self.ids:
            peers = frozenset(adjacency[center])
            if elsewhere and center in reach:  # joining another group of nationals to the core
                for key in self.partners(center, elsewhere.__contains__, peers, NEAREST):
                    candidates[key] = None
            if center not in single:
                continue
            top = _top_of_chain(center, single, cut_off)
            outside = functools.partial(_outside, reach, cut_off[top], top)
            for key in self.partners(center, outside, peers, NEAREST):
                candidates[key] = None
            for key in self.partners(center, reach.__contains__, peers, NEAREST):
                nearby[key] = None
        for key in self.augmentation(reach, adjacency, {**candidates, **nearby}):
            candidates[key] = None
        best: tuple[tuple[int, float, LinkKey], list[str]] | None = None
        for key in candidates:
            self.poll()
            plus = _plus(adjacency, key)
            if key[0] in reach and key[1] in reach:
                after = resilience(fed.core, plus).nearest_spof
            else:  # the core grows: find it again
                core = find_core(fed.index.nationals, components(self.ids, plus))
                after = resilience(core, plus).nearest_spof
            if any(c in after and c not in single for c in reach):
                continue
            freed = [c for c in self.ids if c in single and c not in after]
            rank = (-len(freed), self.distance(key), key)
            if freed and (best is None or rank < best[0]):
                best = (rank, freed)
        if best is None:
            return None
        key = best[0][2]
        return Suggestion(
            a=key[0],
            b=key[1],
            distance_km=self.distance(key),
            fixes=tuple(RedundancyFix(c, single[c]) for c in best[1]),
        )

    def augmentation(
        self, reach: Collection[str], adjacency: Adjacency, avail: Iterable[LinkKey]
    ) -> list[LinkKey]:
        """The links networkx's 2-edge-augmentation of the core's component would add, chosen
        among ``avail`` (weighted by distance; partial when ``avail`` cannot do it all)."""
        import networkx as nx  # here only: the service imports the core at start-up

        graph = nx.Graph()
        graph.add_nodes_from(reach)
        graph.add_edges_from((a, b) for a in reach for b in adjacency[a] if b in reach)
        weighted = {(a, b): self.distance((a, b)) for a, b in avail if a in graph and b in graph}
        if len(graph) < 2 or not weighted:
            return []
        try:
            added = nx.k_edge_augmentation(graph, k=2, avail=weighted, partial=True)
            return sorted(link_key(a, b) for a, b in added)
        except nx.NetworkXException:
            return []

    # --- double failures -------------------------------------------------------------------

    def double_failure_step(self, fed: HealthyFederation) -> Suggestion | None:
        """The link that shrinks the worst double failures most."""
        worst = [
            d
            for d in rank_failures(fed, 2, WORST, cancelled=self.cancelled).failures
            if d.lost_core
        ]
        views = [_Aftermath.of(fed, d) for d in worst]
        adjacency = fed.index.neighbours
        candidates: dict[LinkKey, None] = {}
        for view in views:
            if view.core_component is None:
                continue
            keeps = functools.partial(_keeps, fed.reach, view)
            for victim in view.damage.lost_core:
                for key in self.partners(victim, keeps, adjacency[victim], NEAREST_TO_VICTIM):
                    candidates[key] = None
        estimates = []
        for key in candidates:
            self.poll()
            lost, share = 0, 0.0
            for view in views:
                gained, gained_share = view.gain(key)
                lost += gained
                share += gained_share
            if lost:
                estimates.append(((-lost, -share, self.distance(key), key), key))
        estimates.sort()
        best: tuple[tuple[int, float, float, LinkKey], list[FailureFix]] | None = None
        for _, key in estimates[:CHECKED]:
            self.poll()
            fixes = self.failure_fixes(fed, worst, key)
            lost = sum(f.lost_core_before - f.lost_core_after for f in fixes)
            share = sum(f.capacity_share_before - f.capacity_share_after for f in fixes)
            rank = (-lost, -share, self.distance(key), key)
            if lost > 0 and (best is None or rank < best[0]):
                best = (rank, fixes)
        if best is None:
            return None
        key = best[0][3]
        return Suggestion(a=key[0], b=key[1], distance_km=self.distance(key), fixes=tuple(best[1]))

    def failure_fixes(
        self, fed: HealthyFederation, worst: Sequence[Damage], key: LinkKey
    ) -> list[FailureFix]:
        """The failures among ``worst`` that the link ``key`` would shrink, exactly."""
        built = _rewired(fed, _plus(fed.index.neighbours, key))
        fixes = []
        for before in worst:
            after = damage(built, before.elements)
            if after.lost_core != before.lost_core or (
                after.capacity_share != before.capacity_share
            ):
                kept = frozenset(after.lost_core)
                fixes.append(
                    FailureFix(
                        elements=before.elements,
                        lost_core_before=len(before.lost_core),
                        lost_core_after=len(after.lost_core),
                        regained=tuple(c for c in before.lost_core if c not in kept),
                        capacity_share_before=before.capacity_share,
                        capacity_share_after=after.capacity_share,
                    )
                )
        return fixes


def _cut_off_by(structure: Resilience) -> dict[tuple[str, ...], frozenset[str]]:
    """Single point of failure (``(center,)`` or a link) -> the centers it cuts off."""
    out: dict[tuple[str, ...], frozenset[str]] = {
        (center,): frozenset(lost) for center, lost in structure.cut_centers.items()
    }
    for key, lost in structure.bridges.items():
        out[key] = frozenset(lost)
    return out


def _outside(
    reach: Collection[str], beyond: Collection[str], top: tuple[str, ...], center: str
) -> bool:
    """Whether ``center`` reaches the core without the single point of failure ``top`` (which
    cuts off ``beyond``)."""
    return center in reach and center not in beyond and center not in top


def _keeps(reach: Collection[str], view: _Aftermath, center: str) -> bool:
    """Whether ``center`` reaches the core, healthy and during the failure of ``view`` (a link
    to it leaves the healthy federation's core and reach as they are)."""
    return center in reach and view.reaches(center)


def _top_of_chain(
    center: str,
    single: Mapping[str, tuple[str, ...]],
    cut_off: Mapping[tuple[str, ...], frozenset[str]],
) -> tuple[str, ...]:
    """The single point of failure nearest the core among those ``center`` hangs on (the one
    that cuts off the most)."""
    point = single[center]
    while True:
        upper = next(end for end in point if end not in cut_off[point])
        if len(point) == 2 and (upper,) in cut_off:
            point = (upper,)  # the bridge's upper end cuts off all the bridge does, and more
            continue
        above = single.get(upper)
        if above is None:
            return point
        point = above


@dataclass(frozen=True, slots=True)
class _Aftermath:
    """The federation during one failure: who is in which component, and the core's."""

    damage: Damage
    component: Mapping[str, int]
    core_component: int | None
    lost_by_component: Mapping[int, tuple[int, float]]
    """Component -> how many lost centers it holds, and their capacity share."""

    @classmethod
    def of(cls, fed: HealthyFederation, found: Damage) -> _Aftermath:
        """Analyse the failure ``found``."""
        down = {e.ids[0] for e in found.elements if e.kind == "center"}
        cut = {(e.ids[0], e.ids[1]) for e in found.elements if e.kind == "link"}
        adjacency = without(fed.index.neighbours, down, cut)
        alive = [c for c in fed.index.ids if c not in down]
        component = components(alive, adjacency)
        core = find_core([n for n in fed.index.nationals if n not in down], component)
        lost: dict[int, tuple[int, float]] = {}
        for center in found.lost_core:
            count, share = lost.get(component[center], (0, 0.0))
            amounts = fed.capacity.get(center)
            lost[component[center]] = (
                count + 1,
                share + (fed.share(amounts) if amounts is not None else 0.0),
            )
        return cls(found, component, component[core[0]] if core else None, lost)

    def reaches(self, center: str) -> bool:
        """Whether ``center`` reaches the core during the failure."""
        index = self.component.get(center)
        return index is not None and index == self.core_component

    def gain(self, key: LinkKey) -> tuple[int, float]:
        """Lost centers (and their capacity share) the link would bring back (an estimate:
        exact unless the link changes which group of nationals is the core)."""
        ends = [self.component.get(end) for end in key]
        if None in ends or ends[0] == ends[1] or self.core_component not in ends:
            return 0, 0.0
        other = ends[1] if ends[0] == self.core_component else ends[0]
        assert other is not None
        return self.lost_by_component.get(other, (0, 0.0))
