"""End to end: real agent processes, a real mosquitto and the aggregator judging the federation.

The federation of ``tests/agent_federation.py`` (two national centers, a hub, two rings of
provinces); agents beat every 0.5 s and probe every 1 s (an exchange times out after 1 s), so
the aggregator's silence window is 1.5 s. Every wait is on a condition with a generous deadline:
exact latencies are measured by ``benchmarks/detection.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Thresholds
from tests.agent_federation import (
    CENTER_IDS,
    AgentTiming,
    Federation,
    running_federation,
    write_federation,
)
from tests.aggregator_harness import LiveAggregator, aggregator_config, eventually
from tests.services import Mosquitto

pytestmark = pytest.mark.integration

TIMING = AgentTiming(heartbeat_interval_s=0.5, probe_interval_s=1.0, probe_timeout_s=1.0)
DEADLINE_S = 20.0
"""How long any condition may take on a loaded 2-core machine (they take ~1-3 s when idle)."""
SILENT = {"stale", "down", "unreachable"}


@contextlib.asynccontextmanager
async def federation(
    mosquitto: Mosquitto,
    tmp_path: Path,
    *,
    relayed_links: Iterable[tuple[str, str]] = (),
    external_responders: Iterable[str] = (),
) -> AsyncIterator[tuple[LiveAggregator, Federation]]:
    """An aggregator and the seven agents, all talking; everything stopped at the end."""
    config = aggregator_config(
        mosquitto.url,
        write_federation(tmp_path),
        default_heartbeat_interval_s=TIMING.heartbeat_interval_s,
        probe_fresh_s=5.0,
        # loopback RTTs on a busy machine are noise, not a quality problem
        thresholds=Thresholds(degraded_rtt_s=None, degraded_loss_ratio=0.6),
    )
    with LiveAggregator(config) as live:
        async with running_federation(
            tmp_path / "agents",
            mosquitto.url,
            TIMING,
            relayed_links=relayed_links,
            external_responders=external_responders,
        ) as fed:
            try:
                await eventually(lambda: _healthy(live), timeout_s=DEADLINE_S)
            except TimeoutError as exc:
                raise AssertionError(f"the federation never settled: {_picture(live)}") from exc
            yield live, fed


def _healthy(live: LiveAggregator) -> bool:
    """Every center live, every link up, the rings connected and the hub's ring degraded."""
    statuses = live.statuses()
    links = live.json("/api/v1/links")["links"]
    return (
        all(statuses[c] == "connected" for c in CENTER_IDS if c not in ("prov-3", "prov-4"))
        and statuses["prov-3"] == statuses["prov-4"] == "degraded"
        and all(link["state"] == "up" for link in links)
    )


def _picture(live: LiveAggregator) -> str:
    """Statuses (with why) and link states, for a failure message."""
    centers = live.json("/api/v1/centers")["centers"]
    links = live.json("/api/v1/links")["links"]
    return "; ".join(
        [f"{c['id']}={c['status']} ({c['why']})" for c in centers]
        + [f"{x['a']}--{x['b']}={x['state']}" for x in links]
    )


def center(live: LiveAggregator, center_id: str) -> dict[str, Any]:
    """One center as the API reports it."""
    result: dict[str, Any] = live.json(f"/api/v1/centers/{center_id}")["center"]
    return result


def last_event(live: LiveAggregator) -> int:
    """The seq of the latest status event (0 when none)."""
    events = live.json("/api/v1/events?limit=1")["events"]
    return int(events[-1]["seq"]) if events else 0


def status_history(live: LiveAggregator, center_id: str, since: int) -> list[str]:
    """Every status ``center_id`` took after event ``since``, from the event log."""
    path = f"/api/v1/events?center={center_id}&since={since}&type=center"
    return [e["new"] for e in live.json(path)["events"]]


async def test_every_center_of_a_running_federation_is_connected(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Live agents make every center live, every link up with RTTs, capacity and SPOFs known."""
    async with federation(mosquitto, tmp_path) as (live, _):
        centers = {c["id"]: c for c in live.json("/api/v1/centers")["centers"]}
        assert all(c["live"] and not c["never_seen"] and c["connected"] for c in centers.values())
        assert centers["ndc-a"]["heartbeat_interval_s"] == TIMING.heartbeat_interval_s
        assert centers["prov-1"]["capacity"]["gpus"] == {"total": 8, "available": 2}
        assert centers["prov-3"]["root_cause"] == {"kind": "center", "ids": ["hub"], "label": "hub"}
        assert centers["hub"]["single_point_of_failure"]
        assert centers["hub"]["dependents"] == 2
        links = live.json("/api/v1/links")["links"]
        assert len(links) == 9
        assert all(link["rtt_s"] is not None for link in links)
        assert live.metric('dcmon_federation_connected_ratio{tier="all"}') == 1.0


async def test_killed_agent_whose_neighbours_lose_it_is_down(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """SIGKILL of an agent (its will, its responder gone): down, root cause itself, never lost."""
    async with federation(mosquitto, tmp_path) as (live, fed):
        before = last_event(live)
        killed_at = time.monotonic()
        fed.kill("prov-2")
        await eventually(lambda: center(live, "prov-2")["status"] in SILENT, DEADLINE_S)
        flagged_s = time.monotonic() - killed_at
        await eventually(lambda: center(live, "prov-2")["status"] == "down", DEADLINE_S)
        prov2 = center(live, "prov-2")
        assert not prov2["live"]
        assert not prov2["connected"]
        assert prov2["root_cause"]["ids"] == ["prov-2"]
        assert "offline: lost" in prov2["why"]
        assert "cannot reach it" in prov2["why"]
        assert set(status_history(live, "prov-2", before)) <= {"connected", "stale", "down"}
        # the ring lost a member: prov-1 now hangs off its link to ndc-a alone
        await eventually(lambda: center(live, "prov-1")["status"] == "degraded", DEADLINE_S)
        # the will makes it silent at once, not after the 1.5 s window (generous: a busy machine)
        assert flagged_s < DEADLINE_S


async def test_killed_agent_of_a_center_its_neighbours_still_reach_is_stale(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """An agent dies but the data center answers probes: stale (connected); then gone: down."""
    async with federation(mosquitto, tmp_path, external_responders=["prov-1"]) as (live, fed):
        fed.kill("prov-1")
        await eventually(lambda: center(live, "prov-1")["status"] == "stale", DEADLINE_S)
        # it stays stale over several probe rounds: the neighbours keep reaching it
        for _ in range(3):
            await asyncio.sleep(TIMING.probe_interval_s)
            prov1 = center(live, "prov-1")
            assert prov1["status"] == "stale"
            assert prov1["connected"]
            assert not prov1["live"]
        assert "still reaches it" in prov1["why"]
        await eventually(lambda: center(live, "prov-2")["status"] == "connected", DEADLINE_S)
        await fed.close_responder("prov-1")
        await eventually(lambda: center(live, "prov-1")["status"] == "down", DEADLINE_S)


async def test_frozen_agent_is_flagged_within_the_heartbeat_window_and_recovers(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """SIGSTOP (connection open, no heartbeat, no echo): flagged, then down; SIGCONT: connected."""
    async with federation(mosquitto, tmp_path) as (live, fed):
        frozen_at = time.monotonic()
        fed.freeze("prov-1")
        await eventually(lambda: center(live, "prov-1")["status"] in SILENT, DEADLINE_S)
        assert time.monotonic() - frozen_at < TIMING.misses_window_s + DEADLINE_S
        prov1 = center(live, "prov-1")
        assert not prov1["live"]
        assert "no heartbeat" in prov1["why"]
        # its responder is frozen too: the neighbours' probes time out
        await eventually(lambda: center(live, "prov-1")["status"] == "down", DEADLINE_S)
        fed.thaw("prov-1")
        await eventually(lambda: center(live, "prov-1")["status"] == "connected", DEADLINE_S)
        assert center(live, "prov-1")["live"]


async def test_cut_probe_paths_degrade_then_isolate_a_province(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Cutting one link of the ring degrades the province; cutting both isolates it."""
    ring = [("ndc-a", "prov-1"), ("prov-1", "prov-2")]
    async with federation(mosquitto, tmp_path, relayed_links=ring) as (live, fed):
        fed.cut("ndc-a", "prov-1")
        await eventually(lambda: center(live, "prov-1")["status"] == "degraded", DEADLINE_S)
        link = live.json("/api/v1/centers/prov-1")["center"]["links"]
        assert {x["peer"]: x["state"] for x in link}["ndc-a"] == "down"
        assert "only" in center(live, "prov-1")["why"]
        fed.cut("prov-1", "prov-2")
        await eventually(lambda: center(live, "prov-1")["status"] == "isolated", DEADLINE_S)
        prov1 = center(live, "prov-1")
        assert prov1["live"]
        assert not prov1["connected"]
        assert prov1["root_cause"]["kind"] == "link"
        assert tuple(prov1["root_cause"]["ids"]) in {("ndc-a", "prov-1"), ("prov-1", "prov-2")}
        # prov-2 lost its ring: it now hangs off its link to ndc-b alone
        await eventually(lambda: center(live, "prov-2")["status"] == "degraded", DEADLINE_S)
        assert "ndc-b--prov-2" in center(live, "prov-2")["why"]
        fed.restore("ndc-a", "prov-1")
        fed.restore("prov-1", "prov-2")
        await eventually(lambda: center(live, "prov-1")["status"] == "connected", DEADLINE_S)


async def test_dead_hub_isolates_the_provinces_behind_it_naming_the_hub(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The hub dies: down; its live provinces isolated, a silent one unreachable; cause: hub."""
    hub_cause = {"kind": "center", "ids": ["hub"], "label": "hub"}
    async with federation(mosquitto, tmp_path) as (live, fed):
        fed.kill("hub")
        await eventually(lambda: center(live, "hub")["status"] == "down", DEADLINE_S)
        for province in ("prov-3", "prov-4"):
            # Until every neighbour's probe of the hub failed, a province may briefly blame its
            # own link to the hub; the settled picture names the hub.
            await eventually(
                lambda p=province: (
                    center(live, p)["status"] == "isolated"
                    and center(live, p)["root_cause"] == hub_cause
                ),
                DEADLINE_S,
            )
            view = center(live, province)
            assert view["live"]
            assert view["root_cause"] == hub_cause
            assert "root cause: hub is down" in view["why"]
        fed.kill("prov-4")
        await eventually(
            lambda: (
                center(live, "prov-4")["status"] == "unreachable"
                and center(live, "prov-4")["root_cause"] == hub_cause
            ),
            DEADLINE_S,
        )
        # One incident holds the hub and every province it cut off.
        members: dict[str, set[str]] = {}
        for line in live.get("/metrics")[1].decode().splitlines():
            if line.startswith("dcmon_center_incident{"):
                member = dict(re.findall(r'(\w+)="([^"]*)"', line))
                members.setdefault(member["incident"], set()).add(member["center"])
        assert list(members.values()) == [{"hub", "prov-3", "prov-4"}]
        others = ("ndc-a", "ndc-b", "prov-1", "prov-2")
        await eventually(lambda: {live.statuses()[c] for c in others} == {"connected"}, DEADLINE_S)
