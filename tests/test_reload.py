"""Reload without restart (DESIGN §11): SIGHUP and POST /-/reload, with real processes."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

from agents.protocol import MessageKind, center_topic
from tests.aggregator_harness import (
    SMALL_TOPOLOGY,
    LiveAggregator,
    aggregator_config,
    eventually,
    running_centers,
    write_small_topology,
)
from tests.services import Mosquitto, free_port

DCMON = (sys.executable, "-m", "monitor.commands.cli")
NEW_CENTER: dict[str, Any] = {
    "id": "prov-e",
    "name": "PROV-E",
    "tier": "provincial",
    "region": "central",
    "province": "P",
    "location": {"lat": 15.0, "lon": 108.0},
}


def changed_topology(path: Path) -> None:
    """Add prov-e (linked to ndc-a and prov-c), remove prov-d and its link."""
    document = copy.deepcopy(SMALL_TOPOLOGY)
    document["centers"] = [c for c in document["centers"] if c["id"] != "prov-d"] + [NEW_CENTER]
    document["links"] = [lk for lk in document["links"] if "prov-d" not in (lk["a"], lk["b"])]
    document["links"] += [
        {"a": "ndc-a", "b": "prov-e", "bandwidth_gbps": 10},
        {"a": "prov-c", "b": "prov-e", "bandwidth_gbps": 10},
    ]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


def post(url: str) -> tuple[int, Any]:
    """POST without a body; status and JSON answer."""
    request = urllib.request.Request(url, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


async def test_reload_under_load_adds_and_removes_a_center_and_nobody_else_changes(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """With every agent publishing, POST /-/reload adding prov-e and removing prov-d: prov-e is
    unknown and never seen, then judged once heard; prov-d leaves the API and the metrics at
    once; no other center has a status transition; reload metrics as Prometheus has them."""
    topology = write_small_topology(tmp_path)
    with LiveAggregator(aggregator_config(mosquitto.url, topology)) as live:
        async with running_centers(mosquitto.port):
            await eventually(lambda: live.statuses()["prov-d"] == "degraded")
            await eventually(lambda: live.metric("dcmon_aggregator_grace") == 0)
            before = live.statuses()
            last_seq = max((e["seq"] for e in live.json("/api/v1/events")["events"]), default=0)
            started = live.metric("dcmon_config_last_reload_success_timestamp_seconds")
            changed_topology(topology)
            status, answer = await asyncio.to_thread(post, live.url + "/-/reload")
            assert status == 200
            assert (answer["added"], answer["removed"]) == (["prov-e"], ["prov-d"])
            centers = {c["id"]: c for c in live.json("/api/v1/centers")["centers"]}
            assert set(centers) == {"ndc-a", "ndc-b", "prov-c", "prov-e"}
            assert (centers["prov-e"]["status"], centers["prov-e"]["never_seen"]) == (
                "unknown",
                True,
            )
            assert live.get("/api/v1/centers/prov-d")[0] == 404
            metrics = live.get("/metrics")[1].decode()
            assert 'center="prov-d"' not in metrics
            assert 'b="prov-d"' not in metrics
            assert 'dcmon_center_up{center="prov-e"} 0.0' in metrics
            assert live.metric("dcmon_aggregator_grace") == 0  # no grace for the others
            assert live.metric("dcmon_config_last_reload_successful") == 1
            reloaded = live.metric("dcmon_config_last_reload_success_timestamp_seconds")
            assert started is not None
            assert reloaded is not None
            assert reloaded > started
            async with running_centers(
                mosquitto.port, ("prov-e",), {"prov-e": ("ndc-a", "prov-c")}
            ):
                await eventually(lambda: live.statuses()["prov-e"] == "connected")
            events = live.json(f"/api/v1/events?since={last_seq}&type=center")["events"]
            assert {e["center"] for e in events} == {"prov-e"}
            assert {c: s for c, s in live.statuses().items() if c != "prov-e"} == {
                c: s for c, s in before.items() if c != "prov-d"
            }


async def test_an_invalid_registry_is_refused_and_the_running_state_kept(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A broken registry: 500 naming the file and field, statuses unchanged, the reload metric
    0 until a good file is reloaded."""
    topology = write_small_topology(tmp_path)
    with LiveAggregator(aggregator_config(mosquitto.url, topology)) as live:
        async with running_centers(mosquitto.port):
            await eventually(lambda: live.statuses()["prov-d"] == "degraded")
            before = live.statuses()
            broken = copy.deepcopy(SMALL_TOPOLOGY)
            broken["links"].append({"a": "ndc-a", "b": "nowhere", "bandwidth_gbps": 1})
            topology.write_text(yaml.safe_dump(broken), encoding="utf-8")
            status, answer = await asyncio.to_thread(post, live.url + "/-/reload")
            assert status == 500
            assert str(topology) in answer["error"]
            assert "links[4]" in answer["error"]
            assert live.metric("dcmon_config_last_reload_successful") == 0
            assert live.statuses() == before
            write_small_topology(tmp_path)
            assert (await asyncio.to_thread(post, live.url + "/-/reload"))[0] == 200
            assert live.metric("dcmon_config_last_reload_successful") == 1
            assert live.statuses() == before


def _log_until(process: subprocess.Popen[str], lines: list[str], words: str) -> None:
    """Read the process's log into ``lines`` until one line holds ``words``."""
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if words in line:
            return
    raise AssertionError(f"no log line with {words!r} in:\n{''.join(lines)}")


async def test_sighup_reloads_a_real_dcmon_aggregator(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """``dcmon aggregator`` reloads on SIGHUP: a new center appears; a changed listen address
    is named as needing a restart; a broken file is refused in one log line and the process
    keeps serving."""
    topology = write_small_topology(tmp_path)
    port = free_port()
    config_file = tmp_path / "aggregator.yaml"
    settings = {
        "broker": mosquitto.url,
        "topology": str(topology),
        "listen": f"127.0.0.1:{port}",
        "default_heartbeat_interval_s": 0.2,
    }
    config_file.write_text(yaml.safe_dump(settings), encoding="utf-8")
    process = subprocess.Popen(
        [*DCMON, "aggregator", "--config", str(config_file)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    url = f"http://127.0.0.1:{port}"

    def ids() -> set[str]:
        with urllib.request.urlopen(url + "/api/v1/centers", timeout=10) as response:
            return {c["id"] for c in json.loads(response.read())["centers"]}

    try:
        await asyncio.to_thread(_log_until, process, lines, "listening on")
        assert await asyncio.to_thread(ids) == {"ndc-a", "ndc-b", "prov-c", "prov-d"}
        changed_topology(topology)
        config_file.write_text(
            yaml.safe_dump({**settings, "listen": "127.0.0.1:1"}), encoding="utf-8"
        )
        process.send_signal(signal.SIGHUP)
        await asyncio.to_thread(_log_until, process, lines, "reloaded:")
        assert any("listen changed" in line and "restart" in line for line in lines)
        assert await asyncio.to_thread(ids) == {"ndc-a", "ndc-b", "prov-c", "prov-e"}
        topology.write_text("centers: [oops", encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        await asyncio.to_thread(_log_until, process, lines, "reload refused")
        refused = [line for line in lines if "reload refused" in line]
        assert len(refused) == 1
        assert str(topology) in refused[0]
        assert "Traceback" not in "".join(lines)
        assert await asyncio.to_thread(ids) == {"ndc-a", "ndc-b", "prov-c", "prov-e"}
        assert process.poll() is None
    finally:
        process.terminate()
        process.communicate(timeout=15)


async def test_decommission_clears_the_retained_topics_of_a_removed_center(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """After ``dcmon decommission prov-d``, a new subscriber gets no retained state, capacity or
    links of prov-d (so a restarted aggregator sees no ghost)."""
    async with running_centers(mosquitto.port, ("prov-d",)):
        pass
    result = await asyncio.to_thread(
        subprocess.run,
        [*DCMON, "decommission", "prov-d", "--broker", mosquitto.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert center_topic("prov-d", MessageKind.STATE) in result.stdout
    retained: list[str] = []
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        await client.subscribe("dcmon/v1/centers/prov-d/#")
        try:
            async with asyncio.timeout(1.5):
                async for message in client.messages:
                    retained.append(message.topic.value)
        except TimeoutError:
            pass
    assert retained == []
