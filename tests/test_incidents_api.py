"""Incidents and typed events over the real HTTP API: a hub down, a cut link, their filters,
the event log and the SSE stream (real mosquitto, real aggregator on port 0)."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.aggregator_harness import (
    HEARTBEAT_S,
    NEIGHBOURS,
    Centers,
    LiveAggregator,
    aggregator_config,
    eventually,
    running_centers,
    write_small_topology,
)
from tests.services import Mosquitto

pytestmark = pytest.mark.integration


def _settled(live: LiveAggregator) -> bool:
    return all(s in ("connected", "degraded") for s in live.statuses().values())


def _open(live: LiveAggregator) -> list[dict[str, Any]]:
    incidents: list[dict[str, Any]] = live.json("/api/v1/incidents")["incidents"]
    return incidents


async def _repair(agents: Centers, center: str) -> None:
    """``center`` is back: a birth, heartbeats, and its neighbours reach it again."""
    agents.unreachable = {pair for pair in agents.unreachable if center not in pair}
    await agents.birth(center)
    agents.beating.add(center)
    for peer in (center, *NEIGHBOURS[center]):
        await agents.report_links(peer)


async def _cut(agents: Centers, a: str, b: str) -> None:
    """The link a--b fails both ways (both ends still work)."""
    agents.unreachable |= {(a, b), (b, a)}
    await agents.report_links(a)
    await agents.report_links(b)


async def test_a_hub_down_is_one_critical_incident_naming_its_victims(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """ndc-b down: one critical `center` incident whose victims are ndc-b, the province that lost
    the core and the one that lost redundancy; centers name it, its links do not (a down center
    explains its own links); the detail answers the same; an unknown id is a 404."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        async with running_centers(mosquitto.port) as agents:
            await eventually(lambda: _settled(live))
            assert _open(live) == []
            await agents.fail("ndc-b")
            await eventually(lambda: [i["kind"] for i in _open(live)] == ["center"])
            await eventually(
                lambda: (
                    {c: s for c, s in live.statuses().items() if c != "prov-d"}
                    == {"ndc-a": "connected", "ndc-b": "down", "prov-c": "degraded"}
                )
            )
            [incident] = _open(live)
            assert incident["state"] == "open"
            assert incident["severity"] == "critical"
            assert incident["tier"] == "national"
            assert incident["elements"] == {"centers": ["ndc-b"], "links": []}
            victims = {v["center"]: (v["status"], v["tier"]) for v in incident["victims"]}
            assert victims["ndc-b"] == ("down", "national")
            assert victims["prov-c"] == ("degraded", "provincial")
            assert victims["prov-d"][0] in {"isolated", "unreachable"}
            assert set(victims) == {"ndc-b", "prov-c", "prov-d"}
            impact = incident["impact"]
            assert sum(impact["victims_by_status"].values()) == 3
            assert impact["victims_by_tier"] == {"national": 1, "provincial": 2}
            assert incident["summary"].startswith("ndc-b is down: ")
            assert incident["resolved_at"] is None
            assert incident["flaps"] == 0
            assert incident["opened_at"] <= incident["updated_at"]

            centers = {c["id"]: c for c in live.json("/api/v1/centers")["centers"]}
            assert centers["ndc-a"]["incidents"] == []
            for cid in ("ndc-b", "prov-c", "prov-d"):
                assert centers[cid]["incidents"] == [incident["id"]]
            assert incident["id"] in centers["prov-d"]["why"]
            ndc_b_links = [
                link for link in live.json("/api/v1/links")["links"] if "ndc-b" in link.values()
            ]
            assert {link["incident"] for link in ndc_b_links} == {None}
            detail = live.json("/api/v1/centers/prov-d")["center"]
            assert detail["incidents"] == [incident["id"]]

            status, body = await asyncio.to_thread(live.get, f"/api/v1/incidents/{incident['id']}")
            assert status == 200
            assert json.loads(body)["incident"] == incident
            status, body = await asyncio.to_thread(live.get, "/api/v1/incidents/inc-999")
            assert status == 404
            assert "inc-999" in json.loads(body)["error"]


async def test_incident_filters_select_by_state_severity_time_and_limit(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A repaired hub's incident moves to `resolved` (still found by id); a later cut link opens a
    warning; state, severity, since/until (overlap with the incident's lifetime) and limit (the
    most recently opened) select among them, oldest opened first."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        async with running_centers(mosquitto.port) as agents:
            await eventually(lambda: _settled(live))
            await agents.fail("ndc-b")
            await eventually(lambda: [i["kind"] for i in _open(live)] == ["center"])
            hub_id = _open(live)[0]["id"]
            await _repair(agents, "ndc-b")
            await eventually(lambda: _open(live) == [] and _settled(live))
            await _cut(agents, "ndc-a", "prov-c")
            await eventually(lambda: [i["kind"] for i in _open(live)] == ["link"])

            everything = live.json("/api/v1/incidents?state=all")["incidents"]
            assert [i["id"] for i in everything] == [hub_id, everything[-1]["id"]]
            hub, link = everything
            assert (hub["state"], link["state"]) == ("resolved", "open")
            assert hub["resolved_at"] >= hub["opened_at"]
            assert link["opened_at"] >= hub["resolved_at"]
            assert link["severity"] == "warning"
            assert live.json(f"/api/v1/incidents/{hub_id}")["incident"] == hub

            def ids(query: str) -> list[str]:
                return [i["id"] for i in live.json(f"/api/v1/incidents?{query}")["incidents"]]

            assert ids("") == [link["id"]]
            assert ids("state=resolved") == [hub_id]
            assert ids("state=all&severity=critical") == [hub_id]
            assert ids("state=all&severity=warning") == [link["id"]]
            assert ids("severity=info") == []
            assert ids("state=all&limit=1") == [link["id"]]
            assert ids("state=all&limit=5") == [hub_id, link["id"]]
            # since: not resolved before then; until: opened at or before then (ms precision).
            resolved_ms = math.floor(hub["resolved_at"] * 1000)
            assert ids(f"state=all&since={(resolved_ms + 2) / 1000:.3f}") == [link["id"]]
            assert ids(f"state=all&since={resolved_ms / 1000:.3f}") == [hub_id, link["id"]]
            link_opened_ms = math.floor(link["opened_at"] * 1000)
            assert ids(f"state=all&until={(link_opened_ms - 1) / 1000:.3f}") == [hub_id]
            assert ids(f"state=all&since=0&until={hub['opened_at'] - 1:.3f}") == []
            listed = live.json("/api/v1/links?state=down")["links"]
            assert [(x["a"], x["b"], x["incident"]) for x in listed] == [
                ("ndc-a", "prov-c", link["id"])
            ]


async def test_events_carry_link_and_incident_changes_in_seq_order(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A cut link shows in /api/v1/events as a `link` event naming its incident and an
    `incident` event, numbered with the status transitions in one sequence; `type=` and
    `center=` (either end of a link, anyone an incident concerns) select them; the SSE stream
    sends them as `event: link` and `event: incident`."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        async with running_centers(mosquitto.port) as agents:
            await eventually(lambda: _settled(live))
            # No incident opens in the start-up grace period (one heartbeat window): let it end.
            await asyncio.sleep(2 * live.config.heartbeat_misses * HEARTBEAT_S)
            async with (
                aiohttp.ClientSession() as session,
                session.get(live.url + "/api/v1/events/stream") as stream,
            ):
                await _cut(agents, "ndc-a", "prov-c")
                seen: dict[str, dict[str, Any]] = {}
                async with asyncio.timeout(20):
                    name = ""
                    while not {"link", "incident"} <= seen.keys():
                        line = (await stream.content.readline()).decode().strip()
                        if line.startswith("event: "):
                            name = line.removeprefix("event: ")
                        elif line.startswith("data: "):
                            event = json.loads(line.removeprefix("data: "))
                            if name == "link" and event["new"] == "down":
                                seen["link"] = event
                            elif name == "incident":
                                seen["incident"] = event
            assert seen["link"]["type"] == "link"
            assert (seen["link"]["a"], seen["link"]["b"]) == ("ndc-a", "prov-c")
            incident_id = seen["link"]["incident"]
            assert incident_id is not None
            assert seen["incident"] == {
                "type": "incident",
                "seq": seen["incident"]["seq"],
                "at": seen["incident"]["at"],
                "incident": incident_id,
                "change": "opened",
                "kind": "link",
                "severity": "warning",
                "summary": _open(live)[0]["summary"],
            }

            events = live.json("/api/v1/events")["events"]
            seqs = [e["seq"] for e in events]
            assert seqs == sorted(seqs)
            assert len(set(seqs)) == len(seqs)
            assert {e["type"] for e in events} == {"center", "link", "incident"}
            assert seen["link"] in events
            assert seen["incident"] in events
            degraded = [e for e in events if e.get("center") == "prov-c" and e["new"] == "degraded"]
            assert degraded
            assert degraded[-1]["type"] == "center"
            assert set(degraded[-1]) == {"type", "seq", "at", "center", "old", "new", "why"}

            def types(query: str) -> set[str]:
                return {e["type"] for e in live.json(f"/api/v1/events?{query}")["events"]}

            assert types("type=link") == {"link"}
            assert types("type=incident") == {"incident"}
            for_c = live.json("/api/v1/events?center=prov-c")["events"]
            assert seen["link"] in for_c
            assert seen["incident"] in for_c
            assert {e["center"] for e in for_c if e["type"] == "center"} == {"prov-c"}
            for_d = live.json("/api/v1/events?center=prov-d")["events"]
            assert seen["link"] not in for_d
            assert seen["incident"] not in for_d
            after = live.json(f"/api/v1/events?since={seen['link']['seq'] - 1}&type=link")
            assert after["events"][0] == seen["link"]


async def test_a_stream_client_that_leaves_ends_its_stream_quietly(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Events written after an SSE client disconnected end its stream without an error log."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        async with aiohttp.ClientSession() as session:
            response = await session.get(live.url + "/api/v1/events/stream")
            await response.content.readline()
            response.close()
        assert live.aggregator is not None
        log = live.aggregator.events
        async with running_centers(mosquitto.port):
            await eventually(lambda: _settled(live))
            await eventually(lambda: log.subscribers == 0)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
