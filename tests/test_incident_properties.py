"""Incidents on random federations and failures, checked against replays of the real engine.

The oracle repairs failures for real: the same federation is replayed with one failed element
(or a whole incident) put right, and the engine's own statuses say who got better. DESIGN §9:
the victims of an element are exactly the centers its repair alone would help; an incident's
victims are its elements' victims; repairing all of an incident's elements helps all of them;
incidents never share a victim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from agents.protocol import Probe
from monitor.registry import Registry, parse_registry
from monitor.status.incidents import rank
from monitor.status.model import FailedElement, Snapshot
from tests.federation_scenarios import WINDOW, Feed

TIERS = ("national", "regional", "provincial")


@dataclass(frozen=True)
class Scenario:
    """A federation and what fails in it."""

    registry: Registry
    down: frozenset[str]
    """Centers that fail (their agents go silent and nobody's probe reaches them)."""
    stale: frozenset[str]
    """Centers whose agent dies while the site works."""
    cut: frozenset[frozenset[str]]
    """Links that fail both ways."""

    def __repr__(self) -> str:
        tiers = {c.id: c.tier[0] for c in self.registry.centers}
        links = " ".join(f"{x.a}-{x.b}" for x in self.registry.links)
        return (
            f"Scenario(centers={tiers} links={links} down={sorted(self.down)} "
            f"stale={sorted(self.stale)} cut={sorted(sorted(c) for c in self.cut)})"
        )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A connected random federation of 4-10 centers (1-3 national) and some failures."""
    n = draw(st.integers(min_value=4, max_value=10))
    ids = [f"c{i}" for i in range(n)]
    nationals = draw(st.integers(min_value=1, max_value=3))
    links: set[tuple[str, str]] = set()
    for i in range(1, n):  # a random spanning tree keeps the healthy federation connected
        links.add((ids[draw(st.integers(0, i - 1))], ids[i]))
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    links |= set(draw(st.lists(st.sampled_from(pairs), max_size=n)))
    centers: list[dict[str, Any]] = [
        {
            "id": c,
            "name": c,
            "tier": "national" if i < nationals else TIERS[1 + i % 2],
            "region": f"r{i % 3}",
            "location": {"lat": 10.0, "lon": 106.0},
        }
        for i, c in enumerate(ids)
    ]
    registry = parse_registry(
        {
            "centers": centers,
            "links": [{"a": a, "b": b, "bandwidth_gbps": 10} for a, b in sorted(links)],
        },
        "random",
    )
    down = frozenset(draw(st.sets(st.sampled_from(ids), max_size=3)))
    stale = frozenset(draw(st.sets(st.sampled_from([c for c in ids if c not in down]), max_size=1)))
    # A cut link never touches a down center: its state is then explained by the center.
    cuttable = [frozenset(link) for link in sorted(links) if not set(link) & down]
    cut = (
        frozenset(draw(st.sets(st.sampled_from(cuttable), max_size=3))) if cuttable else frozenset()
    )
    return Scenario(registry, down, stale, cut)


class RepairedFeed(Feed):
    """A feed whose oracle-repaired links work, or keep failing, whatever their ends do."""

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry)
        self.working: set[frozenset[str]] = set()
        self.failing: set[frozenset[str]] = set()

    def probes(self, center: str) -> tuple[Probe, ...]:
        """As ``Feed.probes``; across ``working`` links probes succeed, ``failing`` ones fail."""
        out = []
        for found in super().probes(center):
            link = frozenset((center, found.peer))
            if link in self.working:
                found = Probe(peer=found.peer, reachable=True, rtt_s=0.002, loss_ratio=0.0)  # noqa: PLW2901
            elif link in self.failing:
                found = Probe(peer=found.peer, reachable=False, loss_ratio=1.0)  # noqa: PLW2901
            out.append(found)
        return tuple(out)


def replay(
    scenario: Scenario,
    *,
    repaired: frozenset[FailedElement] = frozenset(),
    judged: Snapshot | None = None,
) -> Snapshot:
    """Run the federation healthy, then with its failures (minus ``repaired``) until judged.

    A repaired down center comes back as DESIGN §9 says: live, with its links to neighbours
    that are not down themselves (in ``judged``, the unrepaired picture) working.
    """
    feed = RepairedFeed(scenario.registry)
    feed.settle()
    fixed_centers = {e.ids[0] for e in repaired if e.kind != "link"}
    fixed_links = {frozenset(e.ids) for e in repaired if e.kind == "link"}
    for element in repaired:
        if element.kind == "center" and judged is not None:
            center = element.ids[0]
            for peer in scenario.registry.neighbours(center):
                link = frozenset((center, peer))
                if judged.centers[peer].status != "down":
                    fixed_links.add(link)
                    feed.working.add(link)
                else:  # the peer's own failure explains that link: it stays down
                    feed.failing.add(link)
    for center in scenario.down - fixed_centers:
        feed.silent.add(center)
        feed.unreachable.add(center)
    feed.silent.update(scenario.stale - fixed_centers)
    feed.cut.update(scenario.cut - fixed_links)
    return feed.run(3 * WINDOW)


def _ranks(snapshot: Snapshot) -> dict[str, int | None]:
    return {c: rank(v.status) for c, v in snapshot.centers.items()}


def _helped(before: Snapshot, after: Snapshot) -> set[str]:
    old, new = _ranks(before), _ranks(after)
    return {c for c in old if (o := old[c]) is not None and (n := new[c]) is not None and n > o}


@settings(max_examples=150, deadline=None)
@given(scenario=scenarios())
def test_victims_are_exactly_the_centers_their_elements_repair_helps(scenario: Scenario) -> None:
    """Each element's repair alone helps only victims of its incident, and together the
    elements' repairs help every victim of it."""
    snapshot = replay(scenario)
    event(f"{len(snapshot.incidents)} incidents")
    for incident in snapshot.incidents.values():
        event(f"kind {incident.kind}")
        victims = {v.center for v in incident.finding.victims}
        helped_by_some: set[str] = set()
        for element in incident.finding.elements:
            if element.kind == "agent":
                continue  # a dead agent has no connectivity victims by definition (DESIGN §9)
            helped = _helped(
                snapshot, replay(scenario, repaired=frozenset({element}), judged=snapshot)
            )
            assert helped <= victims, (incident.summary, element, helped - victims)
            helped_by_some |= helped
        assert helped_by_some == victims, (
            incident.summary,
            victims - helped_by_some,
            scenario,
            {c: v.status for c, v in snapshot.centers.items()},
            {k: v.state for k, v in snapshot.links.items()},
        )


@settings(max_examples=150, deadline=None)
@given(scenario=scenarios())
def test_repairing_an_incident_helps_all_its_victims_and_incidents_share_none(
    scenario: Scenario,
) -> None:
    """All of an incident's elements repaired, every victim is better off; no center is a
    victim of two incidents; every failed center and down link belongs to an incident."""
    snapshot = replay(scenario)
    seen: set[str] = set()
    for incident in snapshot.incidents.values():
        victims = {v.center for v in incident.finding.victims}
        assert not victims & seen, "two incidents share a victim"
        seen |= victims
        repaired = replay(scenario, repaired=frozenset(incident.finding.elements), judged=snapshot)
        assert victims <= _helped(snapshot, repaired), incident.summary
    elements = {e for i in snapshot.incidents.values() for e in i.finding.elements}
    for center, view in snapshot.centers.items():
        if view.status in ("down", "stale"):
            failed = FailedElement("center" if view.status == "down" else "agent", (center,))
            assert failed in elements
    for key, link in snapshot.links.items():
        ends_down = {snapshot.centers[end].status for end in key} & {"down"}
        if link.state == "down" and not ends_down:
            assert FailedElement("link", key) in elements
