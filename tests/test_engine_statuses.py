"""The status engine on hand-built scenarios: every status and the transitions between them."""

from __future__ import annotations

from agents.protocol import (
    AggregatorState,
    CenterState,
    Heartbeat,
    LinkReport,
    Message,
    MessageKind,
    RejectReason,
)
from monitor.registry import load_registry
from monitor.status.engine import EngineSettings, MaintenanceWindow, StatusEngine
from monitor.status.model import RootCause
from tests.conftest import REPO
from tests.federation_scenarios import INTERVAL, WINDOW, Feed, sample_registry

RECONNECT_CAP_S = 30.0  # the agents' documented reconnect cap (docs/agent.md)


def healthy() -> Feed:
    """The sample federation, every agent talking and every probe succeeding."""
    feed = Feed(sample_registry())
    feed.settle()
    return feed


def test_healthy_federation_statuses_and_single_points_of_failure() -> None:
    """A dual-homed hub is connected; a ring behind one hub and a single-homed chain degraded."""
    feed = healthy()
    snapshot = feed.engine.evaluate(feed.now)
    assert feed.status() == {
        "n1": "connected",
        "n2": "connected",
        "hub-a": "connected",
        "hub-b": "degraded",
        "p1": "degraded",
        "p2": "degraded",
        "p3": "degraded",
        "p4": "degraded",
        "p5": "degraded",
    }
    assert snapshot.core == {"n1", "n2"}
    assert snapshot.centers["p1"].root_cause == RootCause("center", ("hub-a",))
    assert "hub-a" in snapshot.centers["p2"].why
    assert snapshot.centers["hub-b"].root_cause == RootCause("link", ("hub-b", "n1"))
    assert snapshot.centers["p5"].root_cause == RootCause("link", ("p4", "p5"))
    cut = {s.ids: set(s.cut_off) for s in snapshot.spof}
    assert cut[("hub-a",)] == {"p1", "p2", "p3"}
    assert cut[("n1",)] == {"hub-b", "p4", "p5"}
    assert cut[("hub-b", "n1")] == {"hub-b", "p4", "p5"}
    assert cut[("p4",)] == {"p5"}
    assert snapshot.centers["hub-a"].dependents == 3
    assert snapshot.links[("hub-b", "p4")].bridge
    assert not snapshot.links[("p1", "p2")].bridge
    assert snapshot.partitions == 1
    assert snapshot.connected_ratio["all"] == 1.0
    assert snapshot.status_counts["degraded"] == 6


def test_hub_failure_makes_its_region_unreachable_with_the_hub_as_root_cause() -> None:
    """When hub-b dies (will) and its provinces fall silent, they are unreachable behind hub-b."""
    feed = healthy()
    feed.will("hub-b")
    feed.silent |= {"hub-b", "p4", "p5"}
    feed.unreachable.add("hub-b")
    snapshot = feed.run(WINDOW + 5)
    assert snapshot.centers["hub-b"].status == "down"
    assert snapshot.centers["hub-b"].root_cause == RootCause("center", ("hub-b",))
    for center in ("p4", "p5"):
        assert snapshot.centers[center].status == "unreachable"
        assert snapshot.centers[center].root_cause == RootCause("center", ("hub-b",))
        assert "hub-b is down" in snapshot.centers[center].why


def test_a_will_makes_a_center_down_at_once() -> None:
    """A will needs no heartbeat window: the next evaluation flags the center."""
    feed = healthy()
    feed.unreachable.add("hub-b")
    feed.round()
    feed.will("hub-b")
    feed.silent.add("hub-b")
    assert feed.engine.needs_evaluation(feed.now)
    snapshot = feed.engine.evaluate(feed.now)
    assert snapshot.centers["hub-b"].status == "down"
    assert [(e.center, e.old, e.new) for e in snapshot.transitions if e.center == "hub-b"] == [
        ("hub-b", "degraded", "down")
    ]


def test_live_center_behind_a_failed_hub_is_isolated() -> None:
    """A province whose agent still talks but whose hub is down is isolated, root cause the hub."""
    feed = healthy()
    feed.silent.add("hub-b")
    feed.unreachable.add("hub-b")
    snapshot = feed.run(WINDOW + 5)
    assert snapshot.centers["hub-b"].status == "down"
    assert snapshot.centers["p4"].status == "isolated"
    assert snapshot.centers["p4"].root_cause == RootCause("center", ("hub-b",))
    assert snapshot.partitions == 2


def test_ring_keeps_a_province_connected_but_degraded() -> None:
    """Cutting hub-a--p1 leaves p1 reaching the core the other way round the ring, degraded."""
    feed = healthy()
    feed.cut.add(frozenset(("hub-a", "p1")))
    snapshot = feed.run(5)
    assert snapshot.links[("hub-a", "p1")].state == "down"
    assert snapshot.centers["p1"].status == "degraded"
    assert snapshot.centers["p1"].root_cause is not None
    assert snapshot.links[("hub-a", "p3")].bridge
    feed.cut.add(frozenset(("p2", "p3")))
    snapshot = feed.run(5)
    assert snapshot.centers["p1"].status == "isolated"
    assert snapshot.centers["p2"].status == "isolated"
    assert snapshot.centers["p3"].status == "degraded"
    assert snapshot.centers["p1"].root_cause in {
        RootCause("link", ("hub-a", "p1")),
        RootCause("link", ("p2", "p3")),
    }


def test_national_centers_partitioned() -> None:
    """Cut apart, the first-listed national center keeps the core and the other is isolated."""
    feed = healthy()
    feed.cut |= {frozenset(("n1", "n2")), frozenset(("n2", "hub-a"))}
    snapshot = feed.run(5)
    assert snapshot.core == {"n1"}
    assert snapshot.centers["n1"].status == "connected"
    assert snapshot.centers["n2"].status == "isolated"
    assert "outside the core" in snapshot.centers["n2"].why
    assert snapshot.centers["n2"].root_cause is not None
    assert snapshot.centers["n2"].root_cause.kind == "link"
    assert snapshot.partitions == 2
    assert snapshot.connected_ratio["national"] == 0.5


def test_asymmetric_link_is_usable_and_does_not_degrade() -> None:
    """When hub-a cannot reach n1 but n1 reaches hub-a, the link is asymmetric and still usable."""
    feed = healthy()
    feed.one_way.add(("hub-a", "n1"))
    snapshot = feed.run(5)
    assert snapshot.links[("hub-a", "n1")].state == "asymmetric"
    assert snapshot.links[("hub-a", "n1")].usable
    assert snapshot.centers["hub-a"].status == "connected"


def test_never_seen_center_is_flagged_and_judged_after_grace() -> None:
    """A center whose agent never spoke is unknown during grace, then down, with never_seen."""
    feed = Feed(sample_registry())
    feed.silent.add("p5")
    feed.unreachable.add("p5")
    snapshot = feed.run(5)
    assert snapshot.centers["p5"].status == "unknown"
    assert snapshot.centers["p5"].never_seen
    snapshot = feed.run(WINDOW)
    assert snapshot.centers["p5"].status == "down"
    assert snapshot.centers["p5"].never_seen
    assert not snapshot.centers["p4"].never_seen


def test_stale_then_down_then_unreachable() -> None:
    """A silent agent its neighbour still reaches is stale; once unreachable, down; unobserved,
    unreachable."""
    feed = healthy()
    feed.silent.add("p4")
    snapshot = feed.run(WINDOW + 5)
    assert snapshot.centers["p4"].status == "stale"
    assert snapshot.centers["p4"].connected
    assert snapshot.centers["p5"].status == "degraded"  # through the stale p4
    feed.unreachable.add("p4")
    snapshot = feed.run(5)
    assert snapshot.centers["p4"].status == "down"
    assert snapshot.centers["p5"].status == "isolated"
    assert snapshot.centers["p5"].root_cause == RootCause("center", ("p4",))
    feed.silent.add("hub-b")
    feed.unreachable.add("hub-b")
    snapshot = feed.run(WINDOW + 5)
    assert snapshot.centers["hub-b"].status == "down"
    assert snapshot.centers["p4"].status == "unreachable"
    assert snapshot.centers["p4"].root_cause == RootCause("center", ("hub-b",))


def test_maintenance_window_overrides_and_ends() -> None:
    """Inside its maintenance window a center is in maintenance; afterwards judged again."""
    window = MaintenanceWindow(("hub-b",), start=40.0, end=60.0, reason="upgrade")
    feed = Feed(sample_registry(), EngineSettings(maintenance=(window,)))
    feed.settle()
    assert feed.status()["hub-b"] == "degraded"
    feed.run(20)
    snapshot = feed.engine.evaluate(feed.now)
    assert feed.now == 40.0
    assert snapshot.centers["hub-b"].status == "maintenance"
    assert snapshot.centers["hub-b"].in_maintenance
    assert feed.engine.next_deadline() is not None
    snapshot = feed.run(20)
    assert snapshot.centers["hub-b"].status == "degraded"


def test_blind_mode_and_grace_after_reconnect() -> None:
    """Blind: everything unknown; after reconnect nothing is declared down until grace ends
    (one heartbeat window plus the agents' reconnect cap, as p5 never comes back), except a
    center whose will arrived."""
    feed = healthy()
    feed.engine.broker_lost(feed.now)
    snapshot = feed.engine.evaluate(feed.now)
    assert set(feed.status().values()) == {"unknown"}
    assert snapshot.blind
    assert snapshot.centers["n1"].root_cause == RootCause("monitor", ())
    feed.now += 60
    feed.engine.broker_restored(feed.now)
    feed.silent.add("p5")
    feed.unreachable.add("p5")
    feed.will("p3")
    feed.silent.add("p3")
    snapshot = feed.run(5)
    assert snapshot.centers["p5"].status == "unknown"
    assert snapshot.centers["p3"].status == "stale"  # its neighbours still reach it
    assert snapshot.centers["n1"].status == "connected"
    snapshot = feed.run(WINDOW)
    assert snapshot.centers["p5"].status == "unknown"  # agents may still be backing off
    snapshot = feed.run(RECONNECT_CAP_S)
    assert snapshot.centers["p5"].status == "down"


def test_grace_after_a_long_blind_spell_outlasts_the_agents_backoff() -> None:
    """Broker down 60 s: while agents back off (up to 30 s) nothing is declared down or cut."""
    feed = healthy()
    feed.engine.broker_lost(feed.now)
    feed.now += 60
    feed.engine.broker_restored(feed.now)
    back = {"n1", "n2"}  # the national core reconnects late; the others later still
    feed.silent.update(c for c in feed.registry.center_ids() if c not in back)
    cut_off = {"down", "isolated", "unreachable"}
    for _ in range(int((WINDOW + RECONNECT_CAP_S) / INTERVAL) - 1):
        snapshot = feed.run(INTERVAL)
        assert not cut_off & {v.status for v in snapshot.centers.values()}
    feed.silent.clear()
    snapshot = feed.run(WINDOW)
    assert {v.status for v in snapshot.centers.values()} <= {"connected", "degraded"}


def test_grace_after_a_blind_spell_ends_early_once_every_center_is_back() -> None:
    """When every center live before the outage is back, grace is one heartbeat window again."""
    feed = healthy()
    feed.engine.broker_lost(feed.now)
    feed.now += 60
    feed.engine.broker_restored(feed.now)
    snapshot = feed.run(INTERVAL)  # everybody heartbeats again at once
    feed.silent.add("p5")
    feed.unreachable.add("p5")
    snapshot = feed.run(WINDOW + 2 * INTERVAL)
    assert snapshot.centers["p5"].status == "down"  # not held for the reconnect cap


def test_startup_grace_keeps_silent_centers_unknown() -> None:
    """Right after start no center is declared down before its heartbeat window passed."""
    feed = Feed(sample_registry())
    snapshot = feed.engine.evaluate(1.0)
    assert {v.status for v in snapshot.centers.values()} == {"unknown"}
    assert feed.engine.next_deadline() == WINDOW


def test_late_will_of_an_older_session_is_ignored() -> None:
    """After a quick restart, the will of the previous session does not make the center silent."""
    feed = healthy()
    old = feed.sessions["hub-a"]
    feed.birth("hub-a")
    feed.round()
    feed.engine.evaluate(feed.now)
    feed.will("hub-a", session=old)
    assert not feed.engine.needs_evaluation(feed.now)
    assert feed.status()["hub-a"] == "connected"


def test_reconnect_birth_after_a_will_of_the_same_session_revives() -> None:
    """An agent that lost the broker and reconnects (same session) is live again."""
    feed = healthy()
    feed.will("hub-a")
    assert feed.status()["hub-a"] == "stale"
    feed.now += 1
    feed.birth("hub-a", session=feed.sessions["hub-a"])
    feed.round()
    assert feed.status()["hub-a"] == "connected"


def test_rejections() -> None:
    """Duplicates, old sessions and unregistered ids are refused; aggregator states ignored."""
    feed = healthy()
    session = feed.sessions["n1"]
    seq = feed.seq["n1"] - 2  # the last heartbeat (seq runs across kinds)
    beat = Heartbeat(session=session, seq=seq, ts=feed.now)
    assert feed.send("n1", MessageKind.HEARTBEAT, beat) is RejectReason.DUPLICATE
    old = Heartbeat(session=session - 1, seq=seq + 10, ts=feed.now)
    assert feed.send("n1", MessageKind.HEARTBEAT, old) is RejectReason.OLD_SESSION
    stray = Message(MessageKind.HEARTBEAT, "ghost", beat)
    assert feed.engine.ingest(stray, feed.now) is RejectReason.UNREGISTERED_CENTER
    aggregator = AggregatorState(aggregator="agg", status="online", session=1, ts=1.0)
    assert feed.engine.ingest(Message(MessageKind.AGGREGATOR_STATE, "agg", aggregator), 1.0) is None


def test_heartbeat_of_a_live_center_needs_no_evaluation() -> None:
    """Heartbeats and unchanged probe verdicts of live centers never trigger a re-evaluation."""
    feed = healthy()
    feed.engine.evaluate(feed.now)
    generation = feed.engine.snapshot.generation
    feed.now += 1
    feed.round()
    assert not feed.engine.needs_evaluation(feed.now)
    snapshot = feed.engine.evaluate(feed.now)
    assert snapshot.generation == generation + 1
    assert snapshot.transitions == ()
    assert snapshot.centers["n1"].last_heartbeat_at == feed.now


def test_poor_link_quality_degrades() -> None:
    """A center whose every usable link loses too much is degraded by link quality."""
    feed = Feed(sample_registry(), EngineSettings(degraded_rtt_s=0.05))
    feed.settle()
    feed.rtt_s[frozenset(("n1", "hub-a"))] = 0.2
    feed.rtt_s[frozenset(("n2", "hub-a"))] = 0.2
    snapshot = feed.run(5)
    assert snapshot.centers["hub-a"].status == "connected"  # its ring links are fine
    for peer in ("p1", "p3"):
        feed.rtt_s[frozenset(("hub-a", peer))] = 0.2
    snapshot = feed.run(5)
    assert snapshot.centers["hub-a"].status == "degraded"
    assert "quality" in snapshot.centers["hub-a"].why


def test_shipped_federation_is_fully_connected_when_healthy() -> None:
    """The sample federation (72 centers) is 100 % connected with every agent healthy."""
    registry = load_registry(REPO / "config" / "topology.yaml")
    feed = Feed(registry)
    snapshot = feed.settle()
    assert snapshot.connected_ratio["all"] == 1.0
    assert snapshot.partitions == 1
    assert snapshot.core == {"ndc-north", "ndc-south"}


def test_engine_accepts_a_fresh_registry_without_messages() -> None:
    """An engine with no messages at all reports every center unknown and never seen."""
    engine = StatusEngine(sample_registry(), EngineSettings(), started_at=100.0)
    snapshot = engine.evaluate(100.0)
    assert all(v.never_seen and v.status == "unknown" for v in snapshot.centers.values())
    snapshot = engine.evaluate(100.0 + WINDOW)
    assert {v.status for v in snapshot.centers.values()} == {"unreachable"}


def test_restart_shows_the_new_session_without_a_status_change() -> None:
    """A quick agent restart keeps the status and shows the new session in the center's view."""
    feed = healthy()
    feed.birth("n2")
    feed.round()
    snapshot = feed.engine.evaluate(feed.now)
    assert snapshot.centers["n2"].session == 2
    assert snapshot.centers["n2"].status == "connected"
    assert all(e.center != "n2" for e in snapshot.transitions)


def test_probe_values_follow_reports_between_status_changes() -> None:
    """New RTTs show in probe and link views even when no status changes."""
    feed = healthy()
    feed.rtt_s[frozenset(("n1", "n2"))] = 0.010
    feed.round()
    snapshot = feed.engine.evaluate(feed.now)
    assert snapshot.probes[("n1", "n2")].rtt_s == 0.010
    assert snapshot.links[("n1", "n2")].rtt_s == 0.010
    feed.cut.add(frozenset(("p4", "p5")))
    feed.rtt_s[frozenset(("n1", "n2"))] = 0.020
    feed.now += 1
    feed.round()
    snapshot = feed.engine.evaluate(feed.now)
    assert snapshot.centers["p5"].status == "isolated"
    assert snapshot.probes[("n1", "n2")].rtt_s == 0.020
    assert snapshot.links[("n1", "n2")].rtt_s == 0.020


def _heartbeats_only(feed: Feed) -> None:
    """Every agent heartbeats (born if needed) but sends no link report."""
    for center in feed.registry.center_ids():
        if center not in feed.sessions:
            feed.birth(center)
        beat = Heartbeat(session=feed.sessions[center], seq=feed.next_seq(center), ts=feed.now)
        feed.send(center, MessageKind.HEARTBEAT, beat)


def test_reconnect_does_not_isolate_centers_whose_link_reports_went_stale() -> None:
    """After a long blind spell, missing link reports make centers unknown, not isolated."""
    feed = healthy()
    feed.engine.broker_lost(feed.now)
    feed.now += 120  # longer than probe freshness: every link report is stale now
    feed.engine.broker_restored(feed.now)
    _heartbeats_only(feed)
    statuses = set(feed.status().values())
    assert statuses <= {"connected", "unknown"}, statuses
    assert "unknown" in statuses
    feed.round()
    assert set(feed.status().values()) == {"connected", "degraded"}


def test_start_without_link_reports_is_unknown_in_grace_then_isolated() -> None:
    """Live agents with no link evidence are unknown during grace, isolated once it ends."""
    feed = Feed(sample_registry())
    feed.now = 1.0
    _heartbeats_only(feed)
    assert "isolated" not in feed.status().values()
    while feed.now < WINDOW + 1:
        feed.now += INTERVAL
        _heartbeats_only(feed)
    statuses = feed.status()
    assert statuses["p1"] == "isolated"
    assert statuses["n1"] == "connected"


def _reports_except(feed: Feed, quiet: set[str]) -> None:
    """Every agent heartbeats; all but ``quiet`` also report their probes."""
    _heartbeats_only(feed)
    for center in feed.registry.center_ids():
        if center not in quiet:
            report = LinkReport(
                session=feed.sessions[center],
                seq=feed.next_seq(center),
                ts=feed.now,
                probes=feed.probes(center),
            )
            feed.send(center, MessageKind.LINKS, report)


def test_start_without_an_uplink_report_is_unknown_in_grace_not_degraded() -> None:
    """An uplink nobody reported yet makes its hub unknown in grace, degraded after."""
    feed = Feed(sample_registry())
    feed.now = 1.0
    quiet = {"n1", "hub-a"}  # the n1--hub-a uplink has no evidence yet; n2--hub-a has
    _reports_except(feed, quiet)
    statuses = feed.status()
    assert statuses["hub-a"] == "unknown"
    assert statuses["p1"] == "degraded"  # behind hub-a whatever that uplink does
    while feed.now < WINDOW + 1:
        feed.now += INTERVAL
        _reports_except(feed, quiet)
    assert feed.status()["hub-a"] == "degraded"


def test_a_session_from_a_clock_running_ahead_does_not_pin_the_center() -> None:
    """An agent restarted with a corrected clock (lower session) is live again at once, and the
    abandoned future session's late will is refused."""
    feed = healthy()
    ahead = int((feed.now + 3600) * 1000)  # the agent's clock ran an hour ahead
    assert feed.birth("hub-a", session=ahead) is None
    feed.round()
    assert feed.status()["hub-a"] == "connected"
    corrected = int(feed.now * 1000)
    assert feed.birth("hub-a", session=corrected) is None
    feed.run(WINDOW + INTERVAL)
    assert feed.status()["hub-a"] == "connected"
    will = CenterState(center="hub-a", status="offline", session=ahead, ts=feed.now, reason="lost")
    assert feed.send("hub-a", MessageKind.STATE, will) is RejectReason.OLD_SESSION
    feed.round()
    assert feed.status()["hub-a"] == "connected"


def test_a_session_within_the_allowed_skew_still_pins_older_ones_out() -> None:
    """A session only slightly ahead of the aggregator's clock is an ordinary session: an
    older one is refused as before."""
    feed = healthy()
    slightly_ahead = int((feed.now + 60) * 1000)
    assert feed.birth("hub-a", session=slightly_ahead) is None
    older = CenterState(
        center="hub-a",
        status="online",
        session=int(feed.now * 1000),
        ts=feed.now,
        heartbeat_interval_s=INTERVAL,
    )
    assert feed.send("hub-a", MessageKind.STATE, older) is RejectReason.OLD_SESSION


def _will(center: str, session: int, ts: float) -> CenterState:
    return CenterState(center=center, status="offline", session=session, ts=ts, reason="lost")


def test_a_late_will_of_an_earlier_connection_of_the_same_session_is_ignored() -> None:
    """The agent reconnected (same session, new birth) before the broker noticed its old
    connection was gone: that connection's will, arriving last, does not make it silent."""
    feed = healthy()  # hub-a was born at t=0 on its first connection
    session = feed.sessions["hub-a"]
    first_connect = -0.001  # the will is set when connecting, just before the birth
    seq = feed.seq["hub-a"]
    feed.birth("hub-a", session=session)  # reconnected: same session, seq runs on
    feed.seq["hub-a"] = seq
    late = _will("hub-a", session, first_connect)
    assert feed.send("hub-a", MessageKind.STATE, late) is RejectReason.OLD_CONNECTION
    feed.run(WINDOW)
    assert feed.status()["hub-a"] == "connected"


def test_the_will_of_the_current_connection_still_makes_the_center_silent() -> None:
    """A will set when the latest connection was made (after the birth before it) counts."""
    feed = healthy()
    session = feed.sessions["hub-a"]
    feed.birth("hub-a", session=session)
    feed.now += 2
    current_connect = feed.now - 0.001
    feed.birth("hub-a", session=session)
    assert feed.send("hub-a", MessageKind.STATE, _will("hub-a", session, current_connect)) is None
    feed.silent.add("hub-a")
    feed.round()
    assert feed.status()["hub-a"] == "stale"


def _state(center: str, session: int, ts: float, connection: int, online: bool) -> CenterState:
    if online:
        return CenterState(
            center=center,
            status="online",
            session=session,
            ts=ts,
            heartbeat_interval_s=INTERVAL,
            connection=connection,
        )
    return CenterState(
        center=center,
        status="offline",
        session=session,
        ts=ts,
        reason="lost",
        connection=connection,
    )


def _beat(feed: Feed, center: str, connection: int) -> RejectReason | None:
    beat = Heartbeat(
        session=feed.sessions[center], seq=feed.next_seq(center), ts=feed.now, connection=connection
    )
    return feed.send(center, MessageKind.HEARTBEAT, beat)


def test_a_will_naming_an_earlier_connection_is_refused() -> None:
    """With connection numbers, the will of connection 1 after the birth of connection 2 is
    refused (old_connection), whatever its timestamp says."""
    feed = healthy()
    session = feed.sessions["hub-a"]
    assert (
        feed.send("hub-a", MessageKind.STATE, _state("hub-a", session, feed.now, 2, True)) is None
    )
    late = _state("hub-a", session, feed.now + 5, 1, False)
    assert feed.send("hub-a", MessageKind.STATE, late) is RejectReason.OLD_CONNECTION
    feed.round()
    assert feed.status()["hub-a"] == "connected"


def test_a_heartbeat_of_a_later_connection_revives_a_center_a_late_will_made_silent() -> None:
    """A late will that overwrote the retained birth (the aggregator restarted and saw only the
    will) is undone by heartbeats of the later connection; the will's own connection is not."""
    feed = Feed(sample_registry())
    feed.settle()
    session = feed.sessions["hub-a"]
    fresh = Feed(sample_registry())  # a restarted aggregator: no birth of hub-a seen
    fresh.sessions, fresh.seq, fresh.now = dict(feed.sessions), dict(feed.seq), feed.now
    fresh.settle()
    fresh.silent.add("hub-a")  # only the heartbeats below come from its agent now
    will = _state("hub-a", session, fresh.now, 1, False)
    assert fresh.send("hub-a", MessageKind.STATE, will) is None
    assert _beat(fresh, "hub-a", connection=1) is None  # delayed on the dead connection
    fresh.run(INTERVAL)
    assert fresh.status()["hub-a"] == "stale"
    assert _beat(fresh, "hub-a", connection=2) is None
    fresh.round()
    assert fresh.status()["hub-a"] == "connected"


def test_many_failures_leave_their_incidents_to_a_job_run_off_the_loop() -> None:
    """With deferred incidents, seventeen failures at once leave a job; applying its findings
    gives the snapshot its incidents, and a job overtaken by new failures is dropped."""
    registry = load_registry(REPO / "config" / "topology.yaml")
    feed = Feed(registry, EngineSettings(defer_incidents=True))
    feed.settle()
    provinces = [c.id for c in registry.centers if c.tier == "provincial"][:18]
    for center in provinces[:17]:
        feed.silent.add(center)
        feed.unreachable.add(center)
    snapshot = feed.run(WINDOW + INTERVAL)
    assert snapshot.incidents == {}
    job = feed.engine.take_incident_job()
    assert job is not None
    assert feed.engine.take_incident_job() is None
    applied = feed.engine.apply_incidents(job, job.run(), feed.now)
    assert applied is not None
    down = {c for c, v in applied.centers.items() if v.status == "down"}
    assert {c for i in applied.incidents.values() for c in i.finding.centers} == down
    assert all(applied.centers[c].incidents for c in down)
    feed.silent.add(provinces[17])
    feed.unreachable.add(provinces[17])
    feed.run(WINDOW + INTERVAL)
    stale = feed.engine.take_incident_job()
    assert stale is not None
    feed.silent.clear()
    feed.unreachable.clear()
    feed.run(WINDOW + INTERVAL)
    assert feed.engine.apply_incidents(stale, stale.run(), feed.now) is None
