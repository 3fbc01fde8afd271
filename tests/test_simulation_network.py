"""The simulated world: faults, probes, capacity drift and scaled registries (pure, no I/O)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agents.protocol import MAX_PAYLOAD_BYTES, LinkReport, encode
from monitor.registry import Registry, load_registry
from monitor.simulation.capacity import CapacityDrift
from monitor.simulation.network import Fault, FaultError, SimulatedNetwork
from monitor.simulation.scale import scale_registry


@pytest.fixture
def registry(registry_path: Path) -> Registry:
    """The sample federation."""
    return load_registry(registry_path)


@pytest.fixture
def network(registry: Registry) -> SimulatedNetwork:
    """A healthy simulated network with reproducible noise."""
    return SimulatedNetwork(registry, flap_period_s=4.0, rng=random.Random(1))


def test_healthy_probes_reach_every_neighbour_with_rtt_near_the_estimate(
    network: SimulatedNetwork, registry: Registry
) -> None:
    """Without faults every probe succeeds, with an RTT close to the link's est_rtt_ms."""
    for link in registry.links:
        probe = network.probe(link.a, link.b, now=0.0)
        assert probe.reachable
        assert probe.rtt_s is not None
        nominal = network.nominal_rtt_ms(link.a, link.b) / 1000
        assert nominal <= probe.rtt_s <= nominal * 1.5 + 0.001


def test_stopped_agent_leaves_its_center_reachable(network: SimulatedNetwork) -> None:
    """stop-agent kills the agent only: neighbours still reach the center (it will be stale)."""
    network.apply(Fault("stop-agent", ("hub-central",)), now=0.0)
    assert not network.agent_runs("hub-central")
    assert network.probe("ndc-north", "hub-central", now=0.0).reachable


def test_down_center_kills_its_agent_and_every_link(
    network: SimulatedNetwork, registry: Registry
) -> None:
    """down fails the agent and makes every neighbour's probe of the center fail."""
    affected = network.apply(Fault("down", ("hub-central",)), now=0.0)
    assert not network.agent_runs("hub-central")
    for peer in registry.neighbours("hub-central"):
        assert peer in affected
        probe = network.probe(peer, "hub-central", now=0.0)
        assert not probe.reachable
        assert probe.rtt_s is None
        assert probe.loss_ratio == 1.0


def test_frozen_agent_runs_but_hangs(network: SimulatedNetwork) -> None:
    """freeze keeps the agent's process (and connection) but marks it hung."""
    network.apply(Fault("freeze", ("prov-ha-noi",)), now=0.0)
    assert network.agent_runs("prov-ha-noi")
    assert network.agent_frozen("prov-ha-noi")


def test_cut_link_fails_both_ways_and_nothing_else(network: SimulatedNetwork) -> None:
    """cut A B fails that link's probes in both directions; other links are untouched."""
    network.apply(Fault("cut", ("hub-central", "ndc-north")), now=0.0)
    assert not network.probe("ndc-north", "hub-central", now=0.0).reachable
    assert not network.probe("hub-central", "ndc-north", now=0.0).reachable
    assert network.probe("hub-central", "ndc-south", now=0.0).reachable


def test_partition_cuts_only_links_leaving_the_region(
    network: SimulatedNetwork, registry: Registry
) -> None:
    """partition REGION fails every cross-region link of REGION and keeps links inside it."""
    network.apply(Fault("partition", ("central",)), now=0.0)
    region = {c.id: c.region for c in registry.centers}
    crossing = inside = 0
    for link in registry.links:
        works = network.link_works(link.a, link.b, now=0.0)
        touches = "central" in (region[link.a], region[link.b])
        if touches and region[link.a] != region[link.b]:
            crossing += 1
            assert not works
        else:
            inside += 1
            assert works
    assert crossing > 0
    assert inside > 0


def test_flapping_link_alternates(network: SimulatedNetwork) -> None:
    """flap A B fails the link for one period, then restores it for the next, and so on."""
    network.apply(Fault("flap", ("hub-north", "ndc-north")), now=100.0)
    phases = [network.link_works("hub-north", "ndc-north", now=100.0 + t) for t in (0, 5, 9, 13)]
    assert phases == [False, True, False, True]


def test_heal_clears_every_fault(network: SimulatedNetwork) -> None:
    """heal brings every agent, center and link back."""
    for fault in (
        Fault("down", ("hub-central",)),
        Fault("stop-agent", ("hub-north",)),
        Fault("freeze", ("hub-south",)),
        Fault("cut", ("hub-north", "ndc-north")),
        Fault("partition", ("south",)),
        Fault("flap", ("hub-south", "ndc-south")),
    ):
        network.apply(fault, now=0.0)
    affected = network.apply(Fault("heal"), now=0.0)
    assert {"hub-central", "hub-north", "hub-south"} <= affected
    assert network.active == []
    assert network.agent_runs("hub-central")
    assert not network.agent_frozen("hub-south")
    assert network.link_works("hub-south", "ndc-south", now=1.0)
    assert network.link_works("hub-north", "ndc-north", now=1.0)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault("down", ("nowhere",)), "unknown center 'nowhere'"),
        (Fault("cut", ("prov-ha-noi", "prov-ca-mau")), "no registered link"),
        (Fault("partition", ("mars",)), "unknown region 'mars'"),
        (Fault("cut", ("hub-north",)), "cut takes 2 argument(s): cut A B"),
    ],
)
def test_bad_faults_are_refused_with_a_clear_message(
    network: SimulatedNetwork, fault: Fault, message: str
) -> None:
    """A fault naming an unknown center, link or region is refused, and nothing changes."""
    with pytest.raises(FaultError, match=message.replace("(", r"\(").replace(")", r"\)")):
        network.apply(fault, now=0.0)
    assert network.active == []


def test_capacity_drifts_but_stays_plausible(registry: Registry) -> None:
    """Available capacity moves over time and always stays between zero and the total."""
    center = next(c for c in registry.centers if c.id == "hpc-north")
    drift = CapacityDrift.for_center(center, random.Random(3))
    seen = set()
    for t in range(0, 600, 5):
        report = drift.report(float(t))
        for resource in report.values():
            assert 0 <= resource.available <= resource.total
        seen.add(report["cpu_cores"].available)
    assert len(seen) > 10


def test_scaled_registry_grows_with_two_paths_per_generated_center(registry: Registry) -> None:
    """--scale N gives exactly N valid centers; each generated one has two links."""
    scaled = scale_registry(registry, 500, seed=1)
    assert len(scaled.centers) == 500
    assert len({c.id for c in scaled.centers}) == 500
    generated = [c for c in scaled.centers if c.id.startswith("gen-")]
    assert len(generated) == 500 - len(registry.centers)
    assert all(len(scaled.neighbours(c.id)) == 2 for c in generated[:20])
    assert scale_registry(registry, 500, seed=1) == scaled


def test_scaled_link_reports_stay_within_the_payload_limit(registry: Registry) -> None:
    """At a few thousand centers no center's link report exceeds the 64 KiB payload limit."""
    scaled = scale_registry(registry, 5000)
    network = SimulatedNetwork(scaled, rng=random.Random(1))
    degree: dict[str, int] = {}
    for link in scaled.links:
        degree[link.a] = degree.get(link.a, 0) + 1
        degree[link.b] = degree.get(link.b, 0) + 1
    busiest = max(degree, key=lambda c: degree[c])
    report = LinkReport(
        session=1, seq=1, ts=0.0, probes=network.probes(busiest, scaled.neighbours(busiest), 0.0)
    )
    assert len(encode(report)) < MAX_PAYLOAD_BYTES


def test_scaled_registry_can_shrink(registry: Registry) -> None:
    """A scale below the registry's size keeps the first centers and the links among them."""
    small = scale_registry(registry, 10)
    ids = {c.id for c in small.centers}
    assert len(ids) == 10
    assert all(link.a in ids and link.b in ids for link in small.links)
