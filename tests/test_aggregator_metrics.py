"""Metrics: DESIGN §4 names, promtool-clean, only registry ids, state sets, fast == reference."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from agents.protocol import (
    Capacity,
    CenterState,
    Heartbeat,
    LinkReport,
    Message,
    MessageKind,
    Probe,
    RejectReason,
    Resource,
)
from monitor.registry import parse_registry
from monitor.service.aggregator import Aggregator
from monitor.service.exposition import SnapshotExposition
from monitor.service.http import build_app
from monitor.service.metrics import (
    CENTER_FAMILIES,
    FEDERATION_FAMILIES,
    LINK_FAMILIES,
    PROBE_FAMILIES,
    SnapshotCollector,
    center_samples,
    federation_samples,
    link_samples,
    probe_samples,
)
from monitor.status.capacity import capacity_totals
from monitor.status.model import Snapshot
from tests.aggregator_harness import NEIGHBOURS, SMALL_TOPOLOGY, aggregator_config

NOW = 1_800_000_000.0


def _aggregator(tmp_path: Path) -> Aggregator:
    registry = parse_registry(SMALL_TOPOLOGY, "small")
    return Aggregator(aggregator_config("mqtt://127.0.0.1:1", tmp_path / "unused.yaml"), registry)


def _feed(
    aggregator: Aggregator, *, silent: str | None = None, cut: tuple[str, str] | None = None
) -> None:
    """Births, heartbeats, probes and capacity for every center (``silent`` sends a will; the
    probes across ``cut`` fail both ways)."""
    engine = aggregator.engine
    engine.broker_restored(NOW - 100)
    for center in NEIGHBOURS:
        birth = CenterState(
            center=center, status="online", session=1, ts=NOW - 50, heartbeat_interval_s=5.0
        )
        assert engine.ingest(Message(MessageKind.STATE, center, birth), NOW - 50) is None
        gpus = Resource(total=8, available=3)
        report = Capacity(session=1, seq=1, ts=NOW - 49, gpus=gpus, cpu_cores=gpus)
        engine.ingest(Message(MessageKind.CAPACITY, center, report), NOW - 49)
    for t in range(30):
        for seq_base, center in enumerate(NEIGHBOURS):
            beat = Heartbeat(session=1, seq=100 + t * 10 + seq_base, ts=NOW - 30 + t)
            engine.ingest(Message(MessageKind.HEARTBEAT, center, beat), NOW - 30 + t)
    for center, peers in NEIGHBOURS.items():
        reached = [p != silent and {center, p} != set(cut or ()) for p in peers]
        probes = tuple(
            Probe(peer=p, reachable=ok, rtt_s=0.002 if ok else None)
            for p, ok in zip(peers, reached, strict=True)
        )
        links = LinkReport(session=1, seq=1000, ts=NOW - 2, probes=probes)
        engine.ingest(Message(MessageKind.LINKS, center, links), NOW - 2)
    if silent:
        will = CenterState(center=silent, status="offline", session=1, ts=NOW - 1, reason="lost")
        engine.ingest(Message(MessageKind.STATE, silent, will), NOW - 1)
    aggregator.evaluate(NOW)


def _distinct_capacity(index: int) -> Capacity:
    """A capacity report whose every figure differs from the others (and from other centers')."""
    return Capacity(
        session=1,
        seq=1,
        ts=NOW - 49,
        cpu_cores=Resource(total=1000 + index, available=100 + index),
        memory_bytes=Resource(total=2**36 + index, available=2**35 + index),
        storage_bytes=Resource(total=2**42 + index, available=2**41 + index),
        # ndc-a (index 0) reports no GPUs: its GPU series must be absent.
        gpus=Resource(total=20 + index, available=2 + index) if index else None,
    )


def _varied_federation(aggregator: Aggregator) -> Snapshot:
    """prov-c stale (silent agent, still seen by its neighbours), prov-d degraded (behind a bridge
    and ndc-b, single points of failure), the ndcs connected; every capacity figure differs."""
    engine = aggregator.engine
    engine.broker_restored(NOW - 100)
    for index, center in enumerate(NEIGHBOURS):
        birth = CenterState(
            center=center, status="online", session=1, ts=NOW - 50, heartbeat_interval_s=5.0
        )
        assert engine.ingest(Message(MessageKind.STATE, center, birth), NOW - 50) is None
        report = _distinct_capacity(index)
        assert engine.ingest(Message(MessageKind.CAPACITY, center, report), NOW - 49) is None
    for t in range(30):
        for seq_base, center in enumerate(NEIGHBOURS):
            if center == "prov-c" and t > 10:
                continue
            beat = Heartbeat(session=1, seq=100 + t * 10 + seq_base, ts=NOW - 30 + t + 0.25)
            engine.ingest(Message(MessageKind.HEARTBEAT, center, beat), NOW - 30 + t)
    for index, (center, peers) in enumerate(NEIGHBOURS.items()):
        if center == "prov-c":
            continue  # silent: no links report, so its probe pairs have no view
        probes = tuple(
            Probe(peer=p, reachable=True, rtt_s=0.001 * (index + 1) + 0.0001 * i)
            for i, p in enumerate(peers)
        )
        links = LinkReport(session=1, seq=1000, ts=NOW - 2, probes=probes)
        assert engine.ingest(Message(MessageKind.LINKS, center, links), NOW - 2) is None
    return aggregator.evaluate(NOW)


def _parsed(text: bytes) -> dict[str, list[Sample]]:
    """Every family of an exposition text, parsed by prometheus-client's own parser."""
    return {f.name: f.samples for f in text_string_to_metric_families(text.decode())}


def _one(samples: Iterable[Sample], **labels: str) -> float | None:
    """The value of the one sample with these labels (None if there is none)."""
    found = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (labels, found)
    return found[0] if found else None


# Written out here, not derived from the schema, so a misnamed family is caught too.
CAPACITY_FAMILIES = {
    "cpu_cores": ("dcmon_center_cpu_cores", "dcmon_center_cpu_cores_available"),
    "gpus": ("dcmon_center_gpus", "dcmon_center_gpus_available"),
    "memory_bytes": ("dcmon_center_memory_bytes", "dcmon_center_memory_available_bytes"),
    "storage_bytes": ("dcmon_center_storage_bytes", "dcmon_center_storage_available_bytes"),
}
VICTIM_STATUSES = ("degraded", "isolated", "down", "unreachable")


def _check_centers(families: dict[str, list[Sample]], snapshot: Snapshot) -> None:
    for cid, view in snapshot.centers.items():
        expected: dict[str, float | None] = {
            "dcmon_center_up": float(view.live),
            "dcmon_center_connected": float(view.connected),
            "dcmon_center_never_seen": float(view.never_seen),
            "dcmon_center_last_heartbeat_timestamp_seconds": view.last_heartbeat_at,
            "dcmon_center_clock_skew_seconds": view.clock_skew_s,
            "dcmon_center_single_point_of_failure": float(view.single_point_of_failure),
            "dcmon_center_dependents": float(view.dependents),
        }
        for resource, (total, available) in CAPACITY_FAMILIES.items():
            amount = view.capacity.get(resource)
            expected[total] = None if amount is None else amount.total
            expected[available] = None if amount is None else amount.available
        for name, value in expected.items():
            assert _one(families[name], center=cid) == value, (cid, name)
        for status in ("connected", "degraded", "stale", "down", "unknown"):
            value = _one(families["dcmon_center_status"], center=cid, status=status)
            assert value == float(status == view.status), (cid, status)
        listed = [
            s.labels["incident"]
            for s in families["dcmon_center_incident"]
            if s.labels["center"] == cid
        ]
        assert tuple(listed) == view.incidents, cid
        assert _one(families["dcmon_center_info"], center=cid, name=cid.upper()) == 1.0


def _check_links_and_probes(families: dict[str, list[Sample]], snapshot: Snapshot) -> None:
    for (a, b), link in snapshot.links.items():
        expected = {
            "dcmon_link_up": float(link.usable),
            "dcmon_link_bridge": float(link.bridge),
            "dcmon_link_dependents": float(link.dependents),
            "dcmon_link_rtt_seconds": link.rtt_s,
            "dcmon_link_loss_ratio": link.loss_ratio,
        }
        for name, value in expected.items():
            assert _one(families[name], a=a, b=b) == value, (a, b, name)
        assert _one(families["dcmon_link_state"], a=a, b=b, state=link.state) == 1.0
        listed = [
            s.labels["incident"]
            for s in families["dcmon_link_incident"]
            if (s.labels["a"], s.labels["b"]) == (a, b)
        ]
        assert listed == ([] if link.incident is None else [link.incident]), (a, b)
    fresh = {pair: probe for pair, probe in snapshot.probes.items() if probe.fresh}
    for (source, target), probe in fresh.items():
        pair = {"source": source, "target": target}
        assert _one(families["dcmon_probe_rtt_seconds"], **pair) == probe.rtt_s
        assert _one(families["dcmon_probe_loss_ratio"], **pair) == probe.loss_ratio
        assert _one(families["dcmon_probe_success"], **pair) == float(probe.reachable)
    reported = {(s.labels["source"], s.labels["target"]) for s in families["dcmon_probe_success"]}
    assert reported == set(fresh)


def _check_federation(families: dict[str, list[Sample]], snapshot: Snapshot) -> None:
    for status, count in snapshot.status_counts.items():
        assert _one(families["dcmon_federation_centers"], status=status) == count
    assert _one(families["dcmon_federation_partitions"]) == snapshot.partitions
    assert _one(families["dcmon_federation_core_centers"]) == len(snapshot.core)
    _check_incidents(families, snapshot)
    counted = [v for v in snapshot.centers.values() if v.connected and v.live and v.capacity]
    for resource in CAPACITY_FAMILIES:
        amounts = [v.capacity[resource] for v in counted if resource in v.capacity]
        total = _one(families["dcmon_capacity"], resource=resource, tier="all")
        available = _one(families["dcmon_capacity_available"], resource=resource, tier="all")
        assert total == sum(a.total for a in amounts), resource
        assert available == sum(a.available for a in amounts), resource


def _check_incidents(families: dict[str, list[Sample]], snapshot: Snapshot) -> None:
    info = {s.labels["incident"]: s for s in families["dcmon_incident_info"]}
    assert set(info) == set(snapshot.incidents)
    for iid, incident in snapshot.incidents.items():
        labels = info[iid].labels
        assert info[iid].value == 1.0
        assert labels["kind"] == incident.kind
        assert labels["severity"] == incident.severity
        assert labels["tier"] == incident.finding.tier
        assert labels["summary"] == incident.summary
        for status in VICTIM_STATUSES:
            victims = sum(1 for v in incident.finding.victims if v.status == status)
            assert _one(families["dcmon_incident_victims"], incident=iid, status=status) == victims
        for resource in CAPACITY_FAMILIES:
            lost = incident.finding.impact.capacity_unreachable.get(resource, 0.0)
            exposed = _one(
                families["dcmon_incident_capacity_unreachable"], incident=iid, resource=resource
            )
            assert exposed == lost, (iid, resource)
        assert _one(families["dcmon_incident_flaps"], incident=iid) == incident.flaps


def _down_center(aggregator: Aggregator) -> Snapshot:
    """prov-d down (its will, and its neighbour's probes fail); the others connected."""
    _feed(aggregator, silent="prov-d")
    return aggregator.snapshot


def test_the_varied_federation_has_what_the_meaning_test_needs(tmp_path: Path) -> None:
    """The federations of the meaning test show connected, degraded, stale and down centers, a
    single point of failure and a bridge."""
    snapshot = _varied_federation(_aggregator(tmp_path))
    statuses = {cid: view.status for cid, view in snapshot.centers.items()}
    assert statuses == {
        "ndc-a": "connected",
        "ndc-b": "connected",
        "prov-c": "stale",
        "prov-d": "degraded",
    }
    assert snapshot.centers["ndc-b"].dependents == 1
    assert snapshot.links[("ndc-b", "prov-d")].bridge
    assert _down_center(_aggregator(tmp_path)).centers["prov-d"].status == "down"


def _cut_link(aggregator: Aggregator) -> Snapshot:
    """The link ndc-a -- prov-c is down (both ends say so); prov-c hangs on ndc-b alone."""
    _feed(aggregator, cut=("ndc-a", "prov-c"))
    return aggregator.snapshot


@pytest.mark.parametrize("federation", [_varied_federation, _down_center, _cut_link])
def test_every_family_carries_its_own_meaning(
    tmp_path: Path, federation: Callable[[Aggregator], Snapshot]
) -> None:
    """Each exposed series, parsed back, equals the field of the view its family names (so a
    sample filed under the wrong family is caught, in both renderers)."""
    aggregator = _aggregator(tmp_path)
    snapshot = federation(aggregator)
    reference = CollectorRegistry(auto_describe=False)
    SnapshotCollector(lambda: aggregator.snapshot, aggregator.registry, registry=reference)
    for text in (
        SnapshotExposition(aggregator.registry).render(snapshot),
        generate_latest(reference),
    ):
        families = _parsed(text)
        _check_centers(families, snapshot)
        _check_links_and_probes(families, snapshot)
        _check_federation(families, snapshot)


def test_capacity_metrics_equal_the_capacity_api_totals(tmp_path: Path) -> None:
    """dcmon_capacity and dcmon_capacity_available report the API's totals, overall and per tier
    (zero for a tier without counted centers)."""
    aggregator = _aggregator(tmp_path)
    snapshot = _varied_federation(aggregator)
    families = _parsed(SnapshotExposition(aggregator.registry).render(snapshot))
    totals = capacity_totals(snapshot, aggregator.registry)
    assert totals.centers == ("ndc-a", "ndc-b", "prov-d")  # not prov-c: its agent is silent
    for tier, by_resource in (*totals.by_tier.items(), ("all", totals.overall)):
        for resource, amount in by_resource.items():
            labels = {"resource": resource, "tier": tier}
            assert _one(families["dcmon_capacity"], **labels) == amount.total
            assert _one(families["dcmon_capacity_available"], **labels) == amount.available
    assert _one(families["dcmon_capacity"], resource="gpus", tier="hpc") == 0.0  # no such center


@pytest.mark.parametrize(
    ("families", "samples_of"),
    [
        (CENTER_FAMILIES, lambda s, r: center_samples(r.centers[0], s.centers[r.centers[0].id])),
        (LINK_FAMILIES, lambda s, r: link_samples(r.links[0], s.links[r.links[0].key])),
        (PROBE_FAMILIES, lambda s, _r: probe_samples(next(iter(s.probes.values())))),
        (FEDERATION_FAMILIES, federation_samples),
    ],
    ids=["center", "link", "probe", "federation"],
)
def test_sample_functions_name_exactly_the_declared_families(
    tmp_path: Path, families: Any, samples_of: Any
) -> None:
    """Every entity's samples are filed under its group's declared family names, no other."""
    aggregator = _aggregator(tmp_path)
    snapshot = _varied_federation(aggregator)
    assert set(samples_of(snapshot, aggregator.registry)) == {f.name for f in families}


def test_before_the_first_evaluation_centers_are_unknown_and_links_have_no_series(
    tmp_path: Path,
) -> None:
    """The initial snapshot (no evaluation yet) exposes every center as unknown and no link."""
    aggregator = _aggregator(tmp_path)
    reference = CollectorRegistry(auto_describe=False)
    SnapshotCollector(lambda: aggregator.snapshot, aggregator.registry, registry=reference)
    text = SnapshotExposition(aggregator.registry).render(aggregator.snapshot)
    assert text == generate_latest(reference)
    families = _parsed(text)
    for center in NEIGHBOURS:
        assert _one(families["dcmon_center_status"], center=center, status="unknown") == 1.0
    assert families["dcmon_link_up"] == []
    assert families["dcmon_probe_success"] == []


@pytest.mark.parametrize("federation", [_varied_federation, _down_center, _cut_link])
def test_fast_exposition_equals_prometheus_client_rendering(
    tmp_path: Path, federation: Callable[[Aggregator], Snapshot]
) -> None:
    """The cached fast renderer writes byte for byte what generate_latest writes (incidents too)."""
    aggregator = _aggregator(tmp_path)
    federation(aggregator)
    reference = CollectorRegistry(auto_describe=False)
    SnapshotCollector(lambda: aggregator.snapshot, aggregator.registry, registry=reference)
    fast = SnapshotExposition(aggregator.registry)
    assert fast.render(aggregator.snapshot) == generate_latest(reference)
    assert fast.render(aggregator.snapshot) == generate_latest(reference)  # from the cache


def test_cached_exposition_follows_each_new_snapshot(tmp_path: Path) -> None:
    """After a center dies and new heartbeats arrive, the cached text still equals the reference."""
    aggregator = _aggregator(tmp_path)
    _feed(aggregator)
    reference = CollectorRegistry(auto_describe=False)
    SnapshotCollector(lambda: aggregator.snapshot, aggregator.registry, registry=reference)
    fast = SnapshotExposition(aggregator.registry)
    before = fast.render(aggregator.snapshot)
    assert before == generate_latest(reference)
    will = CenterState(center="prov-d", status="offline", session=1, ts=NOW, reason="lost")
    assert aggregator.engine.ingest(Message(MessageKind.STATE, "prov-d", will), NOW + 1) is None
    beat = Heartbeat(session=1, seq=5000, ts=NOW + 1)
    message = Message(MessageKind.HEARTBEAT, "prov-c", beat)
    assert aggregator.engine.ingest(message, NOW + 1) is None
    aggregator.evaluate(NOW + 2)
    after = fast.render(aggregator.snapshot)
    assert after != before
    assert after == generate_latest(reference)


def _revive_prov_d(aggregator: Aggregator, at: float) -> Snapshot:
    """prov-d's agent starts again (session 2) and ndc-b reaches it once more."""
    engine = aggregator.engine
    birth = CenterState(
        center="prov-d", status="online", session=2, ts=at, heartbeat_interval_s=5.0
    )
    assert engine.ingest(Message(MessageKind.STATE, "prov-d", birth), at) is None
    for t in range(3):
        for seq_base, center in enumerate(NEIGHBOURS):
            session, seq = (2, 10 + t) if center == "prov-d" else (1, 2000 + t * 10 + seq_base)
            beat = Heartbeat(session=session, seq=seq, ts=at + t)
            engine.ingest(Message(MessageKind.HEARTBEAT, center, beat), at + t)
    for center, session, seq in (("ndc-b", 1, 3000), ("prov-d", 2, 20)):
        probes = tuple(Probe(peer=p, reachable=True, rtt_s=0.002) for p in NEIGHBOURS[center])
        report = LinkReport(session=session, seq=seq, ts=at + 2, probes=probes)
        assert engine.ingest(Message(MessageKind.LINKS, center, report), at + 2) is None
    return aggregator.evaluate(at + 3)


def test_a_down_center_is_one_critical_incident_with_its_victims_and_lost_capacity(
    tmp_path: Path,
) -> None:
    """A down leaf center is one critical center incident: victims, lost capacity, membership."""
    aggregator = _aggregator(tmp_path)
    families = _parsed(SnapshotExposition(aggregator.registry).render(_down_center(aggregator)))
    (info,) = families["dcmon_incident_info"]
    incident = info.labels["incident"]
    assert incident.startswith("inc-")
    assert info.labels == {
        "incident": incident,
        "kind": "center",
        "severity": "critical",
        "tier": "provincial",
        "summary": "prov-d is down: no other center lost anything",
    }
    victims = {s.labels["status"]: s.value for s in families["dcmon_incident_victims"]}
    assert victims == {"degraded": 0.0, "isolated": 0.0, "down": 1.0, "unreachable": 0.0}
    lost = {s.labels["resource"]: s.value for s in families["dcmon_incident_capacity_unreachable"]}
    assert lost == {"cpu_cores": 3.0, "gpus": 3.0, "memory_bytes": 0.0, "storage_bytes": 0.0}
    assert _one(families["dcmon_incident_flaps"], incident=incident) == 0.0
    members = [
        (s.labels["center"], s.labels["incident"]) for s in families["dcmon_center_incident"]
    ]
    assert members == [("prov-d", incident)]
    assert families["dcmon_link_incident"] == []  # a down center explains its own links


def test_a_cut_link_carries_its_incident_and_so_does_the_center_it_degraded(
    tmp_path: Path,
) -> None:
    """A cut link is a warning link incident; the link and the center it degraded carry its id."""
    aggregator = _aggregator(tmp_path)
    families = _parsed(SnapshotExposition(aggregator.registry).render(_cut_link(aggregator)))
    (info,) = families["dcmon_incident_info"]
    incident = info.labels["incident"]
    assert (info.labels["kind"], info.labels["severity"]) == ("link", "warning")
    links = [
        (s.labels["a"], s.labels["b"], s.labels["incident"])
        for s in families["dcmon_link_incident"]
    ]
    assert links == [("ndc-a", "prov-c", incident)]
    members = [
        (s.labels["center"], s.labels["incident"]) for s in families["dcmon_center_incident"]
    ]
    assert members == [("prov-c", incident)]
    assert _one(families["dcmon_incident_victims"], incident=incident, status="degraded") == 1.0


def test_a_resolved_incident_leaves_no_series(tmp_path: Path) -> None:
    """Once the down center is back, every incident series is gone (from the cache too)."""
    aggregator = _aggregator(tmp_path)
    reference = CollectorRegistry(auto_describe=False)
    SnapshotCollector(lambda: aggregator.snapshot, aggregator.registry, registry=reference)
    fast = SnapshotExposition(aggregator.registry)
    assert b"dcmon_incident_info{" in fast.render(_down_center(aggregator))
    snapshot = _revive_prov_d(aggregator, NOW + 1)
    assert snapshot.centers["prov-d"].status != "down"
    assert not snapshot.incidents
    assert [i.state for i in snapshot.resolved_incidents] == ["resolved"]
    text = fast.render(snapshot)
    assert text == generate_latest(reference)
    families = _parsed(text)
    for name in (
        "dcmon_incident_info",
        "dcmon_incident_victims",
        "dcmon_incident_capacity_unreachable",
        "dcmon_incident_flaps",
        "dcmon_center_incident",
        "dcmon_link_incident",
    ):
        assert families[name] == [], name


async def test_metrics_pass_promtool_check_metrics(tmp_path: Path) -> None:
    """The whole /metrics text passes the real `promtool check metrics`."""
    aggregator = _aggregator(tmp_path)
    _feed(aggregator, silent="prov-d")
    text = await aggregator.metrics_text()
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    for name in (
        "dcmon_center_info",
        "dcmon_center_status",
        "dcmon_center_connected",
        "dcmon_center_up",
        "dcmon_center_last_heartbeat_timestamp_seconds",
        "dcmon_center_clock_skew_seconds",
        "dcmon_center_single_point_of_failure",
        "dcmon_center_dependents",
        "dcmon_center_gpus_available",
        "dcmon_center_memory_available_bytes",
        "dcmon_link_up",
        "dcmon_link_state",
        "dcmon_link_bridge",
        "dcmon_probe_rtt_seconds",
        "dcmon_probe_success",
        "dcmon_federation_centers",
        "dcmon_federation_connected_ratio",
        "dcmon_federation_partitions",
        "dcmon_broker_connected",
        "dcmon_store_healthy",
        "dcmon_messages_received_total",
        "dcmon_messages_rejected_total",
        "dcmon_evaluation_duration_seconds",
        "dcmon_center_incident",
        "dcmon_link_incident",
        "dcmon_incident_info",
        "dcmon_incident_victims",
        "dcmon_incident_capacity_unreachable",
        "dcmon_incident_flaps",
        "dcmon_center_never_seen",
        "dcmon_aggregator_info",
        "dcmon_aggregator_blind",
        "dcmon_aggregator_grace",
        "dcmon_link_rtt_seconds",
        "dcmon_link_dependents",
        "dcmon_federation_core_centers",
        "dcmon_capacity_available",
    ):
        assert f"# TYPE {name} " in text.decode(), name


async def test_each_center_has_exactly_one_status_set(tmp_path: Path) -> None:
    """dcmon_center_status is a state set: one 1 per center, the rest 0."""
    aggregator = _aggregator(tmp_path)
    _feed(aggregator, silent="prov-d")
    ones: dict[str, int] = {}
    for line in (await aggregator.metrics_text()).decode().splitlines():
        if line.startswith("dcmon_center_status{"):
            center = line.split('center="', 1)[1].split('"', 1)[0]
            ones[center] = ones.get(center, 0) + (line.endswith(" 1.0"))
    assert ones == dict.fromkeys(NEIGHBOURS, 1)
    assert aggregator.snapshot.centers["prov-d"].status == "down"
    assert 'dcmon_center_incident{center="prov-d"' in (await aggregator.metrics_text()).decode()


async def test_unregistered_center_creates_no_series(tmp_path: Path) -> None:
    """A message from a center id that is not in the registry is refused and never a label."""
    aggregator = _aggregator(tmp_path)
    _feed(aggregator)
    birth = CenterState(
        center="rogue-center", status="online", session=1, ts=NOW, heartbeat_interval_s=5.0
    )
    reason = aggregator.engine.ingest(Message(MessageKind.STATE, "rogue-center", birth), NOW)
    assert reason is RejectReason.UNREGISTERED_CENTER
    aggregator.evaluate(NOW + 1)
    assert b"rogue-center" not in await aggregator.metrics_text()


async def test_metrics_endpoint_streams_the_exposition_and_answers_head(tmp_path: Path) -> None:
    """GET /metrics sends the whole exposition with its length; HEAD sends the headers only."""
    aggregator = _aggregator(tmp_path)
    _feed(aggregator, silent="prov-d")
    runner = web.AppRunner(build_app(aggregator))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
        async with ClientSession() as session:
            async with session.get(url) as response:
                body = await response.read()
                length = response.headers["Content-Length"]
            async with session.head(url) as response:
                assert response.status == 200
                assert response.headers["Content-Length"] == length
                assert await response.read() == b""
    finally:
        await runner.cleanup()
    assert int(length) == len(body)
    assert body.startswith(b"# HELP dcmon_center_info ")
    assert b"dcmon_aggregator_info{" in body
