"""The damage of hypothetical failures, and the fast ranking against brute force and networkx."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.errors import ParameterError
from monitor.registry import Registry
from monitor.status.failures import (
    Cancelled,
    HealthyFederation,
    damage,
    failure_sets,
    rank_failures,
    rank_key,
)
from monitor.status.model import FailedElement
from tests.federation_scenarios import sample_registry
from tests.random_federations import (
    Capacity,
    core_of,
    federations,
    graph_of,
    one_failure_away,
    reaches,
)


def _brute(fed: HealthyFederation, k: int, limit: int) -> list[object]:
    found = sorted((damage(fed, s) for s in failure_sets(fed, k)), key=rank_key)
    return list(found[:limit])


@settings(max_examples=150, deadline=None)
@given(federations(), st.integers(min_value=1, max_value=2), st.integers(min_value=1, max_value=6))
def test_the_fast_ranking_equals_evaluating_every_failure(
    case: tuple[Registry, Capacity], k: int, limit: int
) -> None:
    """Top ``limit`` single or double failures, in order, with every figure, as brute force."""
    registry, capacity = case
    fed = HealthyFederation.of(registry, capacity)
    ranking = rank_failures(fed, k, limit)
    assert list(ranking.failures) == _brute(fed, k, limit)
    assert ranking.evaluated == sum(1 for _ in failure_sets(fed, k))


@settings(max_examples=150, deadline=None)
@given(federations(), st.data())
def test_damage_matches_networkx(case: tuple[Registry, Capacity], data: st.DataObject) -> None:
    """Lost core and lost redundancy of any set of failures, recomputed on the graph minus the
    elements with networkx (core found again, connectivity to a super-node on the core)."""
    registry, capacity = case
    fed = HealthyFederation.of(registry, capacity)
    elements = data.draw(st.lists(st.sampled_from(fed.elements()), max_size=3, unique=True))
    found = damage(fed, elements)

    nationals = [c.id for c in registry.centers if c.tier == "national"]
    graph = graph_of(registry)
    core = core_of(graph, nationals)
    before = reaches(graph, core)
    down = {e.ids[0] for e in elements if e.kind == "center"}
    broken = graph.copy()
    broken.remove_nodes_from(down)
    broken.remove_edges_from(e.ids for e in elements if e.kind == "link")
    core_after = core_of(broken, nationals)
    after = reaches(broken, core_after)
    ids = registry.center_ids()
    assert found.lost_core == tuple(c for c in ids if c in before - after - down)
    assert found.lost_redundancy == tuple(
        c
        for c in ids
        if c in before & after
        and one_failure_away(broken, core_after, c)
        and not one_failure_away(graph, core, c)
    )
    gone = before - after
    for name, amount in found.capacity_unreachable.items():
        assert amount == sum(capacity.get(c, {}).get(name, 0.0) for c in ids if c in gone)


def test_a_hub_and_its_links_on_the_hand_built_federation() -> None:
    """n1 + n2 core; hub-b single-homed on n1 with p4 - p5 behind it; hub-a dual-homed."""
    fed = HealthyFederation.of(sample_registry(), {"p5": {"gpus": 4.0}, "n2": {"gpus": 4.0}})
    hub_b = damage(fed, [FailedElement("center", ("hub-b",))])
    assert hub_b.lost_core == ("p4", "p5")
    assert hub_b.lost_core_by_tier == {"provincial": 2}
    assert hub_b.capacity_unreachable["gpus"] == 4.0
    assert hub_b.capacity_share == pytest.approx(0.5 / 4)
    assert hub_b.label == "hub-b"
    both = damage(fed, [FailedElement("link", ("n1", "n2")), FailedElement("center", ("hub-a",))])
    assert both.label == "hub-a + n1--n2"
    # The core splits into n1 and n2 (a tie): n1, listed first, keeps it.
    assert both.lost_core == ("n2", "p1", "p2", "p3")
    redundancy = damage(fed, [FailedElement("link", ("n1", "hub-a"))])
    assert redundancy.lost_core == ()
    # p1-p3 already hung on hub-a: only hub-a itself loses its redundancy.
    assert redundancy.lost_redundancy == ("hub-a",)
    # Three centers each: n1 and the hub-b--n1 link (p5's GPUs) before hub-a (no capacity).
    top = rank_failures(fed, 1, 3).failures
    assert [(d.label, len(d.lost_core)) for d in top] == [
        ("n1", 3),
        ("hub-b--n1", 3),
        ("hub-a", 3),
    ]


def test_unknown_elements_and_bad_parameters_are_refused() -> None:
    """Damage names the unknown item; the ranking refuses k outside 1-2 and a zero limit."""
    fed = HealthyFederation.of(sample_registry(), {})
    with pytest.raises(ParameterError, match="nowhere"):
        damage(fed, [FailedElement("center", ("nowhere",))])
    with pytest.raises(ParameterError, match="p1--p5"):
        damage(fed, [FailedElement("link", ("p1", "p5"))])
    with pytest.raises(ParameterError, match="k"):
        rank_failures(fed, 3, 5)
    with pytest.raises(ParameterError, match="limit"):
        rank_failures(fed, 1, 0)


def test_progress_is_reported_and_cancelling_stops_the_ranking() -> None:
    """Progress rises to 1.0 in at most ~100 calls; a cancel raises ``Cancelled`` promptly."""
    fed = HealthyFederation.of(sample_registry(), {})
    seen: list[float] = []
    rank_failures(fed, 2, 5, progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
    assert len(seen) <= 101
    polls = itertools.count()
    with pytest.raises(Cancelled):
        rank_failures(fed, 2, 5, cancelled=lambda: next(polls) >= 3)
    assert next(polls) == 4
