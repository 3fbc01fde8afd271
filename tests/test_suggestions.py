"""Suggested links, checked against networkx's own connectivity on random federations."""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.errors import ParameterError
from monitor.registry import Registry, load_registry
from monitor.status.failures import Cancelled, HealthyFederation
from monitor.status.geography import great_circle_km
from monitor.status.graph import resilience
from monitor.status.suggestions import FailureFix, RedundancyFix, Suggestion, suggest_links
from tests.federation_scenarios import sample_registry
from tests.random_federations import (
    Capacity,
    core_of,
    federations,
    graph_of,
    one_failure_away,
    reaches,
)

REPO = Path(__file__).resolve().parent.parent


def _nationals(registry: Registry) -> list[str]:
    return [c.id for c in registry.centers if c.tier == "national"]


def _lacking_redundancy(graph: nx.Graph, nationals: list[str]) -> set[str]:
    core = core_of(graph, nationals)
    return {c for c in reaches(graph, core) if one_failure_away(graph, core, c)}


def _lost(graph: nx.Graph, nationals: list[str], fix: FailureFix) -> set[str]:
    core = core_of(graph, nationals)
    broken = graph.copy()
    down = {e.ids[0] for e in fix.elements if e.kind == "center"}
    broken.remove_nodes_from(down)
    broken.remove_edges_from(e.ids for e in fix.elements if e.kind == "link")
    return reaches(graph, core) - reaches(broken, core_of(broken, nationals)) - down


def _check_replay(registry: Registry, suggestions: tuple[Suggestion, ...]) -> None:
    """Every claim, replayed with networkx on the federation with the links built so far."""
    nationals = _nationals(registry)
    graph = graph_of(registry)
    for suggestion in suggestions:
        before = graph.copy()
        graph.add_edge(suggestion.a, suggestion.b)
        core = core_of(before, nationals)
        shrunk = [
            f.lost_core_before - f.lost_core_after
            for f in suggestion.fixes
            if isinstance(f, FailureFix)
        ]
        assert not shrunk or sum(shrunk) > 0
        for fix in suggestion.fixes:
            if isinstance(fix, RedundancyFix):
                assert one_failure_away(before, core, fix.center)
                assert not one_failure_away(graph, core_of(graph, nationals), fix.center)
                broken = before.copy()
                if len(fix.single_point) == 1:
                    broken.remove_node(fix.single_point[0])
                else:
                    broken.remove_edge(*fix.single_point)
                assert fix.center not in reaches(broken, core_of(broken, nationals))
            else:
                lost_before = _lost(before, nationals, fix)
                lost_after = _lost(graph, nationals, fix)
                assert (len(lost_before), len(lost_after)) == (
                    fix.lost_core_before,
                    fix.lost_core_after,
                )
                # Not always a subset: a failure that splits the nationals can move the core.
                assert set(fix.regained) == lost_before - lost_after


@settings(max_examples=120, deadline=None)
@given(federations(), st.integers(min_value=0, max_value=3))
def test_suggested_links_are_new_and_fix_what_they_claim(
    case: tuple[Registry, Capacity], max_links: int
) -> None:
    """New links only (no self-link, none registered, none twice), at most ``max_links``,
    costed by great-circle distance; every center claimed freed really has two independent
    ways to the core afterwards, every double failure claimed shrunk really lost fewer."""
    registry, capacity = case
    fed = HealthyFederation.of(registry, capacity)
    suggestions = suggest_links(fed, max_links)
    assert len(suggestions) <= max_links
    registered = {link.key for link in registry.links}
    keys = [s.key for s in suggestions]
    assert len(set(keys)) == len(keys)
    for s in suggestions:
        assert s.a < s.b
        assert s.key not in registered
        assert s.fixes
        where = registry.centers_by_id
        assert s.distance_km == great_circle_km(where[s.a].location, where[s.b].location)
    _check_replay(registry, suggestions)


@settings(max_examples=120, deadline=None)
@given(federations())
def test_a_single_point_of_failure_is_fixed_whenever_one_link_can(
    case: tuple[Registry, Capacity],
) -> None:
    """If some center hangs on a single point of failure, the first suggestion frees at least
    one such center exactly when some new link could without making another center that
    reached the core lose its redundancy (networkx tries every link)."""
    registry, capacity = case
    nationals = _nationals(registry)
    graph = graph_of(registry)
    lacking = _lacking_redundancy(graph, nationals)
    if not lacking:
        return
    reach = reaches(graph, core_of(graph, nationals))
    possible = False
    for a, b in itertools.combinations(registry.center_ids(), 2):
        if not graph.has_edge(a, b):
            graph.add_edge(a, b)
            after = _lacking_redundancy(graph, nationals)
            possible = possible or bool(lacking - after and not (after - lacking) & reach)
            graph.remove_edge(a, b)
    suggestions = suggest_links(HealthyFederation.of(registry, capacity), 1)
    assert bool(suggestions) == possible
    if suggestions:
        assert all(isinstance(f, RedundancyFix) for f in suggestions[0].fixes)


def test_the_hand_built_federation_loses_its_single_points_of_failure() -> None:
    """hub-b (with p4, p5) hangs on n1 and p1-p3 on hub-a: one link between the two tails
    frees all six; the next one then works on double failures."""
    fed = HealthyFederation.of(sample_registry(), {})
    first, second = suggest_links(fed, 2)
    freed = {f.center for f in first.fixes if isinstance(f, RedundancyFix)}
    assert freed == {"hub-b", "p4", "p5", "p1", "p2", "p3"}
    built = fed.with_links([first.key])
    assert resilience(built.core, built.index.neighbours).nearest_spof == {}
    assert second.fixes
    assert all(isinstance(f, FailureFix) for f in second.fixes)


def test_the_shipped_sample_gets_links_against_its_worst_double_failures() -> None:
    """The sample has no single point of failure: suggestions shrink double failures."""
    fed = HealthyFederation.of(load_registry(REPO / "config" / "topology.yaml"), {})
    seen: list[float] = []
    suggestions = suggest_links(fed, 2, progress=seen.append)
    assert len(suggestions) == 2
    for s in suggestions:
        assert all(isinstance(f, FailureFix) for f in s.fixes)
        assert 0 < s.distance_km < 2000
    assert seen[-1] == 1.0
    _check_replay(fed.registry, suggestions)


def test_bad_parameters_and_cancelling() -> None:
    """A negative count is refused; a cancel stops the search."""
    fed = HealthyFederation.of(sample_registry(), {})
    assert suggest_links(fed, 0) == ()
    with pytest.raises(ParameterError, match="max_links"):
        suggest_links(fed, -1)
    with pytest.raises(Cancelled):
        suggest_links(fed, 3, cancelled=lambda: True)
