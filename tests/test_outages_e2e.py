"""Bad days, end to end: a long broker outage and an agent whose clock ran ahead.

Real mosquitto, real ``python -m agents`` processes at their real reconnect backoff, the real
aggregator over HTTP. Every wait is on a condition with a generous deadline.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from agents.protocol import CenterState, MessageKind, center_topic, encode
from monitor.config import Thresholds
from tests.agent_federation import CENTER_IDS, AgentTiming, running_federation, write_federation
from tests.aggregator_harness import (
    LiveAggregator,
    aggregator_config,
    eventually,
    running_centers,
    write_small_topology,
)
from tests.services import Mosquitto

pytestmark = pytest.mark.integration

# The agents' own reconnect backoff (docs/agent.md: 0.5 s doubling up to 30 s, full jitter).
REAL_BACKOFF = AgentTiming(
    heartbeat_interval_s=2.0,
    probe_interval_s=1.0,
    probe_timeout_s=1.0,
    reconnect_base_s=0.5,
    reconnect_cap_s=30.0,
)
OUTAGE_S = 60.0
CUT_OFF = ("down", "isolated", "unreachable")
_STATUS_LINE = re.compile(r'^dcmon_center_status\{center="([^"]+)",status="([a-z]+)"\} 1\.0$')


def _cut_off_centers(live: LiveAggregator) -> set[tuple[str, str]]:
    """(center, status) for every center /metrics reports down, isolated or unreachable (and,
    for the failure message, the API's why of each)."""
    found = set()
    for line in live.get("/metrics")[1].decode().splitlines():
        match = _STATUS_LINE.match(line)
        if match and match.group(2) in CUT_OFF:
            found.add((match.group(1), match.group(2)))
    if found:
        whys = {c["id"]: c["why"] for c in live.json("/api/v1/centers")["centers"]}
        found = {(center, f"{status}: {whys.get(center)}") for center, status in found}
    return found


def _all_connected(live: LiveAggregator) -> bool:
    statuses = live.statuses()
    return all(statuses[c] in ("connected", "degraded") for c in CENTER_IDS)


@pytest.mark.timeout(300)
async def test_a_minute_long_broker_outage_never_reports_a_center_cut_off(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Broker down 60 s, agents at their real backoff: /metrics (sampled every 200 ms) never
    shows a center down, isolated or unreachable, everything comes back, and every status
    transition is published exactly once."""
    config = aggregator_config(
        mosquitto.url,
        write_federation(tmp_path),
        default_heartbeat_interval_s=REAL_BACKOFF.heartbeat_interval_s,
        # The default freshness (30 s), as deployed: reports from before the 60 s outage are
        # stale either way, and a starved agent's next report is not a cut-off center.
        thresholds=Thresholds(degraded_rtt_s=None, degraded_loss_ratio=0.6),
    )
    with LiveAggregator(config) as live:
        async with running_federation(tmp_path / "agents", mosquitto.url, REAL_BACKOFF):
            await eventually(lambda: _all_connected(live), timeout_s=60.0)
            seen: set[tuple[str, str]] = set()
            before = live.json("/api/v1/events")["events"]
            last_seq_before = before[-1]["seq"] if before else 0
            mosquitto.stop()
            outage_ends = time.monotonic() + OUTAGE_S
            while time.monotonic() < outage_ends:
                seen |= await asyncio.to_thread(_cut_off_centers, live)
                await asyncio.sleep(0.2)
            assert live.metric("dcmon_broker_connected") == 0.0
            mosquitto.start()
            recovered_by = time.monotonic() + 90.0
            while not await asyncio.to_thread(_all_connected, live):
                assert time.monotonic() < recovered_by, f"never recovered: {live.statuses()}"
                seen |= await asyncio.to_thread(_cut_off_centers, live)
                await asyncio.sleep(0.2)
            assert seen == set(), f"reported cut off during or after the outage: {sorted(seen)}"
            events = live.json("/api/v1/events?type=center")["events"]
    seqs = Counter(e["seq"] for e in events)
    assert max(seqs.values()) == 1, "a transition was published twice"
    since_outage = [e for e in events if e["seq"] > last_seq_before]
    assert since_outage, "the outage made every status unknown and back"
    cut_off = [e for e in since_outage if e["new"] in CUT_OFF]
    assert not cut_off, [(e["center"], e["old"], e["new"], e.get("why")) for e in cut_off]
    last: dict[str, str] = {}
    for event in events:
        assert last.get(event["center"], event["old"]) == event["old"]
        last[event["center"]] = event["new"]


async def test_an_agent_restarted_with_a_corrected_clock_is_connected_again(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Agents whose clock ran an hour ahead restart with a correct one: their new, lower
    session is accepted at once and every center stays connected (not stale)."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        async with running_centers(mosquitto.port) as agents:
            await eventually(lambda: live.statuses()["ndc-a"] == "connected")
            agents.session = int((time.time() + 3600) * 1000)
            for center in agents.centers:
                await agents.birth(center)
                await agents.report_links(center)
            await eventually(lambda: live.json("/api/v1/centers/ndc-a")["center"]["session"])
            await eventually(
                lambda: live.json("/api/v1/centers/ndc-a")["center"]["session"] == agents.session
            )
            agents.session = int(time.time() * 1000)  # the restart, with the clock corrected
            for center in agents.centers:
                await agents.birth(center)
                await agents.report_links(center)

            def sessions() -> set[int]:
                return {c["session"] for c in live.json("/api/v1/centers")["centers"]}

            await eventually(lambda: sessions() == {agents.session})
            await asyncio.sleep(3 * 0.2 * 3)  # three heartbeat windows of the harness agents
            for center in agents.centers:
                await agents.report_links(center)
            await eventually(
                lambda: set(live.statuses().values()) <= {"connected", "degraded"}, timeout_s=10
            )
            assert live.metric('dcmon_messages_rejected_total{reason="old_session"}') == 0.0


async def test_a_late_will_of_the_same_session_leaves_the_center_connected(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The broker delivers connection 1's will after connection 2's birth (same session): the
    will is refused as old_connection and the heartbeating center stays connected."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        async with running_centers(mosquitto.port) as agents:
            await eventually(lambda: live.statuses()["prov-c"] == "connected")
            topic = center_topic("prov-c", MessageKind.STATE)
            reborn = CenterState(
                center="prov-c",
                status="online",
                session=agents.session,
                ts=time.time(),
                heartbeat_interval_s=0.2,
                connection=2,
            )
            await agents.client.publish(topic, encode(reborn), qos=1, retain=True)
            late_will = CenterState(
                center="prov-c",
                status="offline",
                session=agents.session,
                ts=time.time(),
                reason="lost",
                connection=1,
            )
            await agents.client.publish(topic, encode(late_will), qos=1, retain=True)
            await eventually(
                lambda: live.metric('dcmon_messages_rejected_total{reason="old_connection"}') == 1.0
            )
            for center in agents.centers:  # fresh link reports: only liveness is in question
                await agents.report_links(center)
            await asyncio.sleep(3 * 0.2 * 3)  # three heartbeat windows
            assert live.statuses()["prov-c"] == "connected"
