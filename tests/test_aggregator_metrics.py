"""Metrics: DESIGN §4 names, promtool-clean, only registry ids, state sets, fast == reference."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from aiohttp import ClientSession, web
from prometheus_client import CollectorRegistry, generate_latest

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
from monitor.service.metrics import SnapshotCollector
from tests.aggregator_harness import NEIGHBOURS, SMALL_TOPOLOGY, aggregator_config

NOW = 1_800_000_000.0


def _aggregator(tmp_path: Path) -> Aggregator:
    registry = parse_registry(SMALL_TOPOLOGY, "small")
    return Aggregator(aggregator_config("mqtt://127.0.0.1:1", tmp_path / "unused.yaml"), registry)


def _feed(aggregator: Aggregator, *, silent: str | None = None) -> None:
    """Births, heartbeats, probes and capacity for every center (``silent`` sends a will)."""
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
        probes = tuple(
            Probe(peer=p, reachable=p != silent, rtt_s=0.002 if p != silent else None)
            for p in peers
        )
        links = LinkReport(session=1, seq=1000, ts=NOW - 2, probes=probes)
        engine.ingest(Message(MessageKind.LINKS, center, links), NOW - 2)
    if silent:
        will = CenterState(center=silent, status="offline", session=1, ts=NOW - 1, reason="lost")
        engine.ingest(Message(MessageKind.STATE, silent, will), NOW - 1)
    aggregator.evaluate(NOW)


def test_fast_exposition_equals_prometheus_client_rendering(tmp_path: Path) -> None:
    """The cached fast renderer writes byte for byte what generate_latest writes."""
    aggregator = _aggregator(tmp_path)
    _feed(aggregator, silent="prov-d")
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
        "dcmon_messages_received_total",
        "dcmon_messages_rejected_total",
        "dcmon_evaluation_duration_seconds",
        "dcmon_center_root_cause_info",
        "dcmon_root_cause_centers",
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
    assert (
        'dcmon_center_root_cause_info{center="prov-d"' in (await aggregator.metrics_text()).decode()
    )


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
