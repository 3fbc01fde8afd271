"""Changes at runtime in the status engine (DESIGN §11): maintenance windows and reload."""

from __future__ import annotations

from monitor.status.engine import EngineSettings, MaintenanceWindow
from monitor.status.model import Snapshot
from tests.federation_scenarios import CENTERS, INTERVAL, LINKS, WINDOW, Feed, sample_registry


def healthy(settings: EngineSettings | None = None) -> Feed:
    """The sample federation, every agent talking and every probe succeeding."""
    feed = Feed(sample_registry(), settings)
    feed.settle()
    return feed


def statuses(snapshot: Snapshot) -> dict[str, str]:
    """Center -> status."""
    return {center: view.status for center, view in snapshot.centers.items()}


def test_a_window_set_at_runtime_starts_and_ends_on_time() -> None:
    """A window declared while running is a deadline: the center is in maintenance from its
    start to its end, and judged as before afterwards."""
    feed = healthy()
    start, end = feed.now + 7.0, feed.now + 19.0
    feed.engine.set_maintenance([MaintenanceWindow(("hub-a",), start, end, "upgrade")])
    assert feed.engine.evaluate(feed.now).centers["hub-a"].status == "connected"
    assert feed.engine.next_deadline() == start
    assert feed.engine.needs_evaluation(start)
    assert feed.run(start - feed.now).centers["hub-a"].status == "maintenance"
    assert feed.run(end - 0.5 - feed.now).centers["hub-a"].in_maintenance
    assert feed.run(0.5).centers["hub-a"].status == "connected"


def test_ending_a_window_early_ends_the_maintenance_status() -> None:
    """Replacing the windows with a shortened one takes the center out at once."""
    feed = healthy()
    window = MaintenanceWindow(("hub-b",), feed.now, feed.now + 3600.0)
    feed.engine.set_maintenance([window])
    assert feed.status()["hub-b"] == "maintenance"
    feed.engine.set_maintenance([MaintenanceWindow(window.ids, window.start, feed.now)])
    assert feed.status()["hub-b"] == "degraded"


def test_a_down_link_in_maintenance_opens_no_incident_and_shows_its_window() -> None:
    """The ring link p1--p2 cut for planned work: still down in the graph, in maintenance in its
    view, and no incident (without the window it is an incident of its own)."""
    control = healthy()
    control.cut.add(frozenset(("p1", "p2")))
    assert [i.finding.links for i in control.run(INTERVAL * 2).incidents.values()] == [
        (("p1", "p2"),)
    ]

    feed = healthy()
    feed.engine.set_maintenance([MaintenanceWindow(("p1", "p2"), 0.0, feed.now + 3600.0)])
    feed.cut.add(frozenset(("p1", "p2")))
    snapshot = feed.run(INTERVAL * 2)
    link = snapshot.links[("p1", "p2")]
    assert link.state == "down"
    assert link.in_maintenance
    assert not snapshot.links[("p2", "p3")].in_maintenance
    assert snapshot.incidents == {}


def test_a_center_in_maintenance_opens_no_incident_for_itself_or_its_links() -> None:
    """p1 powered off for planned work: in maintenance, and neither it nor its down links open an
    incident (without the window, p1 down is one)."""
    control = healthy()
    control.silent.add("p1")
    control.unreachable.add("p1")
    control.will("p1")
    assert control.run(WINDOW).incidents

    feed = healthy()
    feed.engine.set_maintenance([MaintenanceWindow(("p1",), 0.0, feed.now + 3600.0)])
    feed.silent.add("p1")
    feed.unreachable.add("p1")
    feed.will("p1")
    snapshot = feed.run(WINDOW)
    assert snapshot.centers["p1"].status == "maintenance"
    assert snapshot.links[("hub-a", "p1")].state == "down"
    assert snapshot.incidents == {}


def test_a_center_in_maintenance_cut_off_alone_does_not_split_the_federation() -> None:
    """A live center whose only link is being worked on is no partition of the federation."""
    feed = healthy()
    feed.cut.add(frozenset(("p4", "p5")))
    assert feed.run(INTERVAL * 2).partitions == 2
    feed.engine.set_maintenance([MaintenanceWindow(("p5",), 0.0, feed.now + 3600.0)])
    snapshot = feed.engine.evaluate(feed.now)
    assert snapshot.centers["p5"].status == "maintenance"
    assert snapshot.partitions == 1


def test_reload_keeps_every_unchanged_center_and_welcomes_a_new_one_as_unknown() -> None:
    """A center added at runtime is unknown and never seen; nobody else changes; once heard it
    is judged like the others."""
    feed = healthy()
    before = statuses(feed.engine.evaluate(feed.now))
    generation = feed.engine.snapshot.generation
    registry = sample_registry(
        (*CENTERS, ("p6", "provincial", "north")), (*LINKS, ("p5", "p6", 10))
    )
    feed.engine.reload(registry, EngineSettings(), feed.now)
    feed.registry = registry
    feed.silent.add("p6")
    snapshot = feed.engine.evaluate(feed.now)
    assert snapshot.generation > generation
    assert snapshot.transitions == ()
    assert {c: s for c, s in statuses(snapshot).items() if c != "p6"} == before
    assert snapshot.centers["p6"].status == "unknown"
    assert snapshot.centers["p6"].never_seen
    assert snapshot.links[("p5", "p6")].state == "unknown"
    feed.silent.discard("p6")
    snapshot = feed.run(INTERVAL * 2)
    assert snapshot.centers["p6"].status == "degraded"
    assert not snapshot.centers["p6"].never_seen
    assert {c: s for c, s in statuses(snapshot).items() if c != "p6"} == before


def test_a_new_center_never_heard_is_judged_after_its_own_heartbeat_window() -> None:
    """No blind grace for everyone: only the new center waits one window, then is judged."""
    feed = healthy()
    registry = sample_registry(
        (*CENTERS, ("p6", "provincial", "north")), (*LINKS, ("p5", "p6", 10))
    )
    feed.engine.reload(registry, EngineSettings(), feed.now)
    feed.registry = registry
    feed.silent.add("p6")
    feed.unreachable.add("p6")
    deadline = feed.engine.next_deadline()
    assert deadline is not None
    assert deadline <= feed.now + WINDOW
    snapshot = feed.run(WINDOW + INTERVAL)
    assert snapshot.centers["p6"].status == "down"
    assert [i.finding.centers for i in snapshot.incidents.values()] == [("p6",)]


def test_reload_removing_a_center_drops_it_and_resolves_its_incident() -> None:
    """A removed center leaves the snapshot (views, links, probes) at once; its open incident
    resolves; the others keep their statuses."""
    feed = healthy()
    feed.silent.add("p5")
    feed.unreachable.add("p5")
    feed.will("p5")
    snapshot = feed.run(WINDOW)
    assert snapshot.centers["p5"].status == "down"
    assert snapshot.incidents
    before = statuses(snapshot)
    registry = sample_registry(
        [c for c in CENTERS if c[0] != "p5"], [lk for lk in LINKS if "p5" not in lk[:2]]
    )
    feed.engine.reload(registry, EngineSettings(), feed.now)
    feed.registry = registry
    snapshot = feed.engine.evaluate(feed.now)
    assert "p5" not in snapshot.centers
    assert ("p4", "p5") not in snapshot.links
    assert not any("p5" in pair for pair in snapshot.probes)
    assert snapshot.incidents == {}
    assert [i.finding.centers for i in snapshot.resolved_incidents] == [("p5",)]
    del before["p5"]
    assert statuses(snapshot) == before
    assert statuses(feed.run(INTERVAL * 2)) == before


def test_reload_applies_new_thresholds() -> None:
    """A lower RTT threshold takes effect at the reload's evaluation (every link of hub-a is
    slower than it)."""
    feed = healthy()
    assert feed.status()["hub-a"] == "connected"
    for peer in ("n1", "n2", "p1", "p3"):
        feed.rtt_s[frozenset(("hub-a", peer))] = 0.050
    feed.run(INTERVAL)
    assert feed.status()["hub-a"] == "connected"
    feed.engine.reload(feed.registry, EngineSettings(degraded_rtt_s=0.010), feed.now)
    assert feed.status()["hub-a"] == "degraded"
