"""The aggregator against a real mosquitto: ingest, bad input, blind mode, restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import pytest

from agents.broker import parse_broker_url
from agents.protocol import (
    CenterState,
    Heartbeat,
    Message,
    MessageKind,
    RejectReason,
    center_topic,
    encode,
)
from monitor.service.ingest import INTERNAL_ERROR, Ingest
from tests.aggregator_harness import (
    LiveAggregator,
    aggregator_config,
    eventually,
    running_centers,
    write_small_topology,
)
from tests.services import Mosquitto, free_port

pytestmark = pytest.mark.integration


def _all_connected(live: LiveAggregator) -> bool:
    return set(live.statuses().values()) <= {"connected", "degraded"}


async def test_live_centers_become_connected_and_a_will_makes_one_down(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Centers that talk are connected; a will with a neighbour reporting it unreachable: down."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        async with running_centers(mosquitto.port) as agents:
            await eventually(lambda: live.statuses()["prov-c"] == "connected")
            assert live.statuses()["ndc-a"] == "connected"
            agents.unreachable |= {("ndc-a", "prov-c"), ("ndc-b", "prov-c")}
            await agents.offline("prov-c")
            await agents.report_links("ndc-a")
            await agents.report_links("ndc-b")
            await eventually(lambda: live.statuses()["prov-c"] == "down", timeout_s=5)
            events = live.json("/api/v1/events?center=prov-c&type=center")["events"]
            assert events[-1]["new"] == "down"
            assert live.metric('dcmon_center_status{center="prov-c",status="down"}') == 1.0


async def test_bad_messages_are_counted_and_ignored_creating_no_series(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Malformed, oversized, wrong-type, spoofed and unregistered messages: counted, no series."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        await eventually(lambda: live.get("/readyz")[0] == 200)
        beat = encode(Heartbeat(session=1, seq=1, ts=1.0))
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            sends = [
                ("dcmon/v1/centers/ndc-a/heartbeat", b"{not json"),
                ("dcmon/v1/centers/ndc-a/heartbeat", b"{" + b" " * 70_000 + b"}"),
                ("dcmon/v1/centers/ndc-a/heartbeat", b'{"v":1,"session":"x","seq":1,"ts":1}'),
                (
                    center_topic("ndc-a", MessageKind.STATE),
                    encode(
                        CenterState(
                            center="ndc-b",
                            status="offline",
                            session=5,
                            ts=1.0,
                        )
                    ),
                ),
                ("dcmon/v1/centers/evil-center/heartbeat", beat),
                ("dcmon/v1/centers/Evil/heartbeat", beat),
                ("dcmon/v1/whatever", beat),
            ]
            for topic, payload in sends:
                await client.publish(topic, payload, qos=1)
        expected = {
            "malformed_json": 1,
            "too_large": 1,
            "wrong_type": 1,
            "center_mismatch": 1,
            "unregistered_center": 1,
            "bad_center_id": 1,
            "bad_topic": 1,
        }

        def counted() -> bool:
            return all(
                live.metric(f'dcmon_messages_rejected_total{{reason="{reason}"}}') == n
                for reason, n in expected.items()
            )

        await eventually(counted, timeout_s=10)
        text = live.get("/metrics")[1].decode()
        assert "evil" not in text.lower()
        assert live.get("/healthz")[0] == 200
        assert live.statuses()["ndc-b"] != "down"


async def test_lost_broker_makes_the_aggregator_blind_not_the_world_down(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Killing the broker: every status unknown, /readyz not 200, broker_connected 0; then back."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        async with running_centers(mosquitto.port):
            await eventually(lambda: _all_connected(live))
        mosquitto.stop()
        await eventually(lambda: live.get("/readyz")[0] == 503, timeout_s=10)
        await eventually(lambda: set(live.statuses().values()) == {"unknown"}, timeout_s=5)
        assert live.metric("dcmon_broker_connected") == 0.0
        assert live.metric("dcmon_aggregator_blind") == 1.0
        assert live.metric('dcmon_federation_centers{status="down"}') == 0.0
        mosquitto.start()
        async with running_centers(mosquitto.port):
            await eventually(lambda: live.get("/readyz")[0] == 200, timeout_s=30)
            await eventually(lambda: _all_connected(live), timeout_s=10)
        news = {e["new"] for e in live.json("/api/v1/events?type=center")["events"]}
        assert not news & {"down", "unreachable", "stale"}, news


async def test_restart_mid_outage_reports_the_outage_again_and_nothing_else_flaps(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A restarted aggregator finds the down center down again; the others only become connected."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    async with running_centers(mosquitto.port) as agents:
        with LiveAggregator(config) as first:
            await eventually(lambda: first.statuses()["prov-c"] == "connected")
            agents.unreachable |= {("ndc-a", "prov-c"), ("ndc-b", "prov-c")}
            await agents.offline("prov-c")
            await agents.report_links("ndc-a")
            await agents.report_links("ndc-b")
            await eventually(lambda: first.statuses()["prov-c"] == "down")
        with LiveAggregator(config) as second:
            await eventually(lambda: second.statuses()["prov-c"] == "down")
            await asyncio.sleep(1.0)  # well past the grace window: nothing else may change
            events = second.json("/api/v1/events?type=center")["events"]
            by_center: dict[str, list[str]] = {}
            for event in events:
                by_center.setdefault(event["center"], []).append(event["new"])
            assert by_center["prov-c"] == ["down"]
            for center in ("ndc-a", "ndc-b", "prov-d"):
                assert set(by_center.get(center, [])) <= {"connected", "degraded"}, by_center


class _BrittleSink:
    """An engine stand-in that fails on messages from one center (a bug on one input)."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.lost = 0

    def ingest(self, message: Message, received_at: float) -> RejectReason | None:
        del received_at
        if message.kind is not MessageKind.HEARTBEAT:
            return None
        if message.source == "prov-c":
            raise RecursionError("maximum recursion depth exceeded")
        self.accepted.append(message.source)
        return None

    def broker_lost(self, at: float) -> None:
        del at
        self.lost += 1

    def broker_restored(self, at: float) -> None:
        del at


async def test_a_failure_handling_one_message_is_contained_to_it(mosquitto: Mosquitto) -> None:
    """A message whose handling raises is counted as internal_error; the connection stays up
    and the next message is handled."""
    sink = _BrittleSink()
    async with Ingest(parse_broker_url(mosquitto.url), "agg-test", sink) as ingest:
        await eventually(lambda: ingest.connected and ingest.synced)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            for center in ("prov-c", "prov-c", "ndc-a"):
                beat = Heartbeat(session=1, seq=len(sink.accepted) + 1, ts=1.0)
                await client.publish(center_topic(center, MessageKind.HEARTBEAT), encode(beat))
            await eventually(lambda: sink.accepted == ["ndc-a"])
        assert ingest.counters.rejected[INTERNAL_ERROR] == 2
        assert ingest.connected
        assert ingest.connection_attempts == 1
        assert sink.lost == 0


async def test_a_broker_never_reached_leaves_every_center_unknown(tmp_path: Path) -> None:
    """Started against a dead broker, the aggregator is blind: every center stays unknown past
    the heartbeat window, /readyz is not ready and the blind flag is up."""
    config = aggregator_config(
        f"mqtt://127.0.0.1:{free_port()}",
        write_small_topology(tmp_path),
        default_heartbeat_interval_s=0.2,
    )
    with LiveAggregator(config) as live:
        await asyncio.sleep(3 * 0.2 * 5)  # five heartbeat windows
        assert set(live.statuses().values()) == {"unknown"}
        assert live.metric("dcmon_aggregator_blind") == 1.0
        assert live.get("/readyz")[0] == 503
