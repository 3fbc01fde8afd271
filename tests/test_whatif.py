"""What-if (DESIGN §10) in the pure core: exact against the faults really happening."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.errors import ParameterError
from monitor.registry import load_registry
from monitor.status.capacity import capacity_totals
from monitor.status.failures import HealthyFederation, damage
from monitor.status.model import FailedElement, Finding, Snapshot, link_key
from monitor.status.whatif import Scenario, WhatIf, scenario
from tests.federation_scenarios import CENTERS, INTERVAL, LINKS, WINDOW, Feed, sample_registry

REGISTRY = sample_registry()
SAMPLE = Path(__file__).resolve().parent.parent / "config" / "topology.yaml"
CENTER_IDS = [c for c, _, _ in CENTERS]
LINK_KEYS = [link_key(a, b) for a, b, _ in LINKS]


def _ask(feed: Feed, imagined: Scenario) -> WhatIf:
    return feed.engine.what_if(imagined, feed.now)()


def _incidents(findings: tuple[Finding, ...] | list[Finding]) -> list[tuple[object, ...]]:
    return sorted(
        (f.elements, f.kind, f.severity, tuple(v.center for v in f.victims), f.summary)
        for f in findings
    )


def _capacity(snapshot: Snapshot) -> dict[str, float]:
    return {k: v.available for k, v in capacity_totals(snapshot, REGISTRY).overall.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    down0=st.sets(st.sampled_from(CENTER_IDS), max_size=2),
    cut0=st.sets(st.sampled_from(LINK_KEYS), max_size=2),
    down1=st.sets(st.sampled_from(CENTER_IDS), max_size=2),
    cut1=st.sets(st.sampled_from(LINK_KEYS), max_size=2),
    data=st.data(),
)
def test_a_what_if_of_the_current_state_is_what_really_happens(
    down0: set[str],
    cut0: set[tuple[str, str]],
    down1: set[str],
    cut1: set[tuple[str, str]],
    data: st.DataObject,
) -> None:
    # Faults already there: down centers (silent, nobody reaches them) and cut links not
    # touching them (a repaired center comes back with its links up, DESIGN §9).
    cut0 = {k for k in cut0 if not set(k) & down0}
    down1 -= down0
    cut1 -= cut0
    repair_centers = data.draw(st.sets(st.sampled_from(sorted(down0)))) if down0 else set()
    repair_links = data.draw(st.sets(st.sampled_from(sorted(cut0)))) if cut0 else set()
    feed = Feed(REGISTRY)
    feed.settle()  # every center heard from (a repaired one's capacity is known)
    feed.silent |= down0
    feed.unreachable |= down0
    feed.cut |= {frozenset(k) for k in cut0}
    feed.run(WINDOW + INTERVAL)
    before = feed.engine.evaluate(feed.now)
    imagined = scenario(
        feed.engine.index,
        down=sorted(down1),
        cut=sorted(cut1),
        repair=[*sorted(repair_centers), *(list(k) for k in sorted(repair_links))],
    )
    predicted = _ask(feed, imagined)
    assert {c: v.status for c, v in predicted.before.centers.items()} == {
        c: v.status for c, v in before.centers.items()
    }

    # Now the same faults (and repairs) really happen.
    feed.silent = (feed.silent - repair_centers) | down1
    feed.unreachable = (feed.unreachable - repair_centers) | down1
    feed.cut = (feed.cut - {frozenset(k) for k in repair_links}) | {frozenset(k) for k in cut1}
    after = feed.run(WINDOW + INTERVAL)

    assert {c: v.status for c, v in predicted.after.centers.items()} == {
        c: v.status for c, v in after.centers.items()
    }
    assert predicted.after.connected_ratio == after.connected_ratio
    assert _capacity(predicted.after) == _capacity(after)
    assert {k: v.state for k, v in predicted.after.links.items()} == {
        k: v.state for k, v in after.links.items()
    }
    assert _incidents(predicted.incidents) == _incidents(
        [i.finding for i in after.incidents.values()]
    )
    changed = {c.center for c in predicted.changes}
    assert changed == {c for c in CENTER_IDS if before.centers[c].status != after.centers[c].status}


def test_a_hub_failure_from_the_healthy_base() -> None:
    feed = Feed(REGISTRY)
    feed.silent.add("p5")  # the live state has a fault the healthy base ignores
    feed.unreachable.add("p5")
    feed.settle()
    outcome = _ask(feed, scenario(feed.engine.index, down=["hub-b"], base="healthy"))
    assert {c.center: (c.before, c.after) for c in outcome.changes} == {
        "hub-b": ("degraded", "down"),  # single-homed on n1 even when healthy
        "p4": ("degraded", "isolated"),
        "p5": ("degraded", "isolated"),
    }
    assert outcome.before.connected_ratio["all"] == 1.0
    assert outcome.after.connected_ratio["all"] == pytest.approx(6 / 9)
    assert outcome.lost_core == ("hub-b", "p4", "p5")
    # Each Feed center offers 4 GPUs and 60 cores; p5 never reported any, so only hub-b's and
    # p4's become unreachable.
    assert outcome.capacity_unreachable["gpus"] == 8
    assert outcome.capacity_unreachable["cpu_cores"] == 120
    [incident] = outcome.incidents
    assert incident.kind == "center"
    assert incident.severity == "critical"
    assert [v.center for v in incident.victims] == ["hub-b", "p4", "p5"]
    assert outcome.is_new(incident)


def test_a_what_if_changes_nothing_live() -> None:
    feed = Feed(REGISTRY)
    feed.settle()
    live = feed.engine.evaluate(feed.now)
    statuses = {c: v.status for c, v in live.centers.items()}
    outcome = _ask(feed, scenario(feed.engine.index, down=["n1", "hub-a"], cut=[["p1", "p2"]]))
    assert outcome.changes  # it did imagine something
    again = feed.engine.evaluate(feed.now)
    assert again is live  # not even re-evaluated: no evidence changed
    assert {c: v.status for c, v in feed.run(INTERVAL).centers.items()} == statuses


def test_repairs_bring_back_what_is_broken_now() -> None:
    feed = Feed(REGISTRY)
    feed.settle()
    feed.silent.add("hub-b")
    feed.unreachable.add("hub-b")
    feed.run(WINDOW + INTERVAL)
    outcome = _ask(feed, scenario(feed.engine.index, repair=["hub-b"]))
    assert {c.center: c.after for c in outcome.changes} == {
        "hub-b": "degraded",  # single-homed on n1
        "p4": "degraded",
        "p5": "degraded",
    }
    assert outcome.capacity_regained["gpus"] == 12
    assert outcome.incidents == ()
    assert len(outcome.incidents_before) == 1


def test_a_blind_monitor_answers_only_from_the_healthy_base() -> None:
    feed = Feed(REGISTRY)
    feed.settle()
    feed.engine.broker_lost(feed.now)
    with pytest.raises(ParameterError, match="blind"):
        _ask(feed, scenario(feed.engine.index, down=["hub-a"]))
    outcome = _ask(feed, scenario(feed.engine.index, down=["hub-a"], base="healthy"))
    # hub-a is the ring's only way out: p1..p3 are cut off with it.
    assert {c.center: c.after for c in outcome.changes} == {
        "hub-a": "down",
        "p1": "isolated",
        "p2": "isolated",
        "p3": "isolated",
    }


@pytest.mark.parametrize(
    ("arguments", "parameter", "message"),
    [
        ({"down": ["atlantis"]}, "down", "'atlantis' is not a registered center"),
        ({"cut": [["n1", "n1"]]}, "cut", "n1--n1 is a self-link"),
        ({"cut": [["p1", "p5"]]}, "cut", "p1--p5 is not a registered link"),
        ({"cut": [["p1"]]}, "cut", "is not a link"),
        ({"cut": ["p1"]}, "cut", "is not a link"),
        ({"repair": ["ghost"]}, "repair", "'ghost' is not a registered center"),
        ({"down": ["p1"], "repair": ["p1"]}, "repair", "p1 is also in down"),
        ({"cut": [["p2", "p1"]], "repair": [["p1", "p2"]]}, "repair", "p1--p2 is also in cut"),
        ({"base": "yesterday"}, "base", "'yesterday' is not one of current, healthy"),
    ],
)
def test_bad_scenarios_name_the_item(
    arguments: dict[str, object], parameter: str, message: str
) -> None:
    feed = Feed(REGISTRY)
    with pytest.raises(ParameterError, match=message) as caught:
        scenario(feed.engine.index, **arguments)  # type: ignore[arg-type]
    assert caught.value.parameter == parameter


@pytest.mark.parametrize("federation", ["small", "sample"])
def test_the_resilience_ranking_agrees_with_a_what_if_from_the_healthy_base(
    federation: str,
) -> None:
    """The ranking's fast graph analysis (``failures.damage``) and the engine's what-if give the
    same victims, capacity and lost redundancy: every single failure and pair of the small
    federation; every single failure and 300 of the 23,000 pairs of the shipped sample."""
    registry = REGISTRY if federation == "small" else load_registry(SAMPLE)
    feed = Feed(registry)
    feed.settle()
    capacity = {
        c: {name: r.available for name, r in v.capacity.items()}
        for c, v in feed.engine.snapshot.centers.items()
    }
    fed = HealthyFederation.of(registry, capacity)
    elements = fed.elements()
    sets: list[tuple[FailedElement, ...]] = [(e,) for e in elements]
    pairs = list(itertools.combinations(elements, 2))
    sets += pairs if federation == "small" else random.Random(13).sample(pairs, 300)
    for chosen in sets:
        down = [e.ids[0] for e in chosen if e.kind == "center"]
        cut = [list(e.ids) for e in chosen if e.kind == "link"]
        outcome = _ask(feed, scenario(feed.engine.index, down=down, cut=cut, base="healthy"))
        found = damage(fed, chosen)
        label = found.label
        assert found.lost_core == tuple(c for c in outcome.lost_core if c not in down), label
        assert dict(found.capacity_unreachable) == dict(outcome.capacity_unreachable), label
        newly_degraded = tuple(
            c.center for c in outcome.changes if (c.before, c.after) == ("connected", "degraded")
        )
        assert found.lost_redundancy == newly_degraded, label
