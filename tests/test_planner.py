"""The capacity planner: totals over counted centers and lowest-RTT candidate paths."""

from __future__ import annotations

import pytest

from agents.errors import ParameterError
from monitor.status.capacity import capacity_totals
from monitor.status.planner import find_candidates
from tests.federation_scenarios import WINDOW, Feed, sample_registry


def healthy() -> Feed:
    """The sample federation with every agent healthy (8 GPUs, 4 available, per center)."""
    feed = Feed(sample_registry())
    feed.settle()
    return feed


def test_totals_count_connected_live_centers_by_tier_region_and_partition() -> None:
    """Capacity of every connected, live center counts, grouped by tier, region and partition."""
    feed = healthy()
    totals = capacity_totals(feed.engine.evaluate(feed.now), feed.registry)
    assert len(totals.centers) == 9
    assert totals.overall["gpus"].available == 36
    assert totals.overall["gpus"].total == 72
    assert totals.by_tier["national"]["cpu_cores"].available == 120
    assert totals.by_region["north"]["gpus"].total == 32
    assert list(totals.by_partition) == [0]


def test_silent_agents_capacity_is_not_counted() -> None:
    """A stale center (silent agent) and an isolated one contribute nothing."""
    feed = healthy()
    feed.silent.add("p4")
    feed.cut.add(frozenset(("hub-a", "p1")))
    feed.cut.add(frozenset(("p1", "p2")))
    snapshot = feed.run(WINDOW + 5)
    assert snapshot.centers["p4"].status == "stale"
    assert snapshot.centers["p1"].status == "isolated"
    totals = capacity_totals(snapshot, feed.registry)
    assert "p4" not in totals.centers
    assert "p1" not in totals.centers
    assert totals.overall["gpus"].available == 28


def test_summing_only_by_tier_gives_the_same_floats() -> None:
    """The tier-only totals the metrics use equal the full totals, tier for tier."""
    feed = healthy()
    snapshot = feed.engine.evaluate(feed.now)
    full = capacity_totals(snapshot, feed.registry)
    tiers = capacity_totals(snapshot, feed.registry, ("tier",))
    assert (tiers.centers, tiers.overall, tiers.by_tier) == (
        full.centers,
        full.overall,
        full.by_tier,
    )
    assert not tiers.by_region
    assert not tiers.by_partition


def test_candidates_follow_the_lowest_rtt_path() -> None:
    """Candidates are sorted by path RTT; the path avoids a slow link when a faster way exists."""
    feed = healthy()
    feed.rtt_s[frozenset(("n1", "hub-a"))] = 0.030
    snapshot = feed.run(5)
    found = find_candidates(snapshot, feed.registry, "gpus", 4, "hub-b", None)
    assert found[0].center == "hub-b"
    assert found[0].hops == 0
    to_p1 = next(c for c in found if c.center == "p1")
    assert to_p1.path == ("hub-b", "n1", "n2", "hub-a", "p1")
    assert to_p1.path_rtt_s == pytest.approx(0.008)
    assert to_p1.bottleneck_bandwidth_gbps == 40
    assert not to_p1.rtt_estimated
    assert [c.path_rtt_s for c in found] == sorted(c.path_rtt_s for c in found)
    near = find_candidates(snapshot, feed.registry, "gpus", 4, "hub-b", 4.5)
    assert {c.center for c in near} == {"hub-b", "n1", "p4", "n2", "p5"}
    assert find_candidates(snapshot, feed.registry, "gpus", 5, "hub-b", None) == []


def test_candidates_skip_centers_behind_a_cut() -> None:
    """A center without a usable path from the origin is no candidate."""
    feed = healthy()
    feed.cut.add(frozenset(("hub-b", "p4")))
    snapshot = feed.run(5)
    found = find_candidates(snapshot, feed.registry, "cpu_cores", 10, "n1", None)
    assert "p4" not in {c.center for c in found}
    assert "p5" not in {c.center for c in found}


def test_bad_planner_queries_name_the_parameter() -> None:
    """Unknown resources and origins and negative bounds are refused naming the parameter."""
    feed = healthy()
    snapshot = feed.engine.evaluate(feed.now)
    for args, parameter in (
        (("tpus", 1, "n1", None), "resource"),
        (("gpus", 1, "nowhere", None), "from"),
        (("gpus", -1, "n1", None), "min"),
        (("gpus", 1, "n1", -5.0), "max_rtt_ms"),
    ):
        with pytest.raises(ParameterError) as caught:
            find_candidates(snapshot, feed.registry, *args)
        assert caught.value.parameter == parameter
