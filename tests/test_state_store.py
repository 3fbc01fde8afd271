"""The state store with real processes: a restarted aggregator continues its open incidents, and
a store that cannot be used costs history, never monitoring (real mosquitto, real SQLite)."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.aggregator_harness import (
    HEARTBEAT_S,
    NEIGHBOURS,
    Centers,
    eventually,
    running_centers,
    write_small_topology,
)
from tests.aggregator_process import AggregatorProcess
from tests.services import Mosquitto

pytestmark = pytest.mark.integration


def _settings(mosquitto: Mosquitto, tmp_path: Path, store: Path) -> dict[str, Any]:
    return {
        "broker": mosquitto.url,
        "topology": str(write_small_topology(tmp_path)),
        "default_heartbeat_interval_s": HEARTBEAT_S,
        "probe_fresh_s": 5.0,
        "state_store": str(store),
    }


@contextlib.contextmanager
def _aggregator(workdir: Path, settings: dict[str, Any]) -> Iterator[AggregatorProcess]:
    process = AggregatorProcess(workdir, settings)
    process.start()
    try:
        yield process
    finally:
        process.stop(signal.SIGKILL)


def _open(aggregator: AggregatorProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = aggregator.json("/api/v1/incidents")["incidents"]
    return found


def _stored_state(store: Path, incident: str) -> str | None:
    with contextlib.closing(sqlite3.connect(store)) as db:
        row = db.execute("SELECT state FROM incidents WHERE id = ?", (incident,)).fetchone()
    return None if row is None else str(row[0])


def _statuses(aggregator: AggregatorProcess) -> dict[str, str]:
    return {c["id"]: c["status"] for c in aggregator.json("/api/v1/centers")["centers"]}


async def _repair(agents: Centers, center: str) -> None:
    agents.unreachable = {pair for pair in agents.unreachable if center not in pair}
    await agents.birth(center)
    agents.beating.add(center)
    for peer in (center, *NEIGHBOURS[center]):
        await agents.report_links(peer)


async def test_an_aggregator_killed_mid_incident_continues_it_with_the_same_id_and_opening(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """ndc-b fails, the aggregator is killed (SIGKILL) and started again on the same store: the
    incident is open through the new run's grace with its id and opened_at, stays the same
    incident once the failure is judged again, a new incident (prov-c's agent dies) gets the
    next number, and ndc-b's repair resolves the continued incident."""
    store = tmp_path / "state.db"
    with _aggregator(tmp_path, _settings(mosquitto, tmp_path, store)) as aggregator:
        async with running_centers(mosquitto.port) as agents:
            await eventually(
                lambda: set(_statuses(aggregator).values()) <= {"connected", "degraded"}
            )
            await agents.fail("ndc-b")
            await eventually(lambda: [i["kind"] for i in _open(aggregator)] == ["center"])
            [before] = _open(aggregator)
            await eventually(lambda: _stored_state(store, before["id"]) == "open")

            aggregator.stop(signal.SIGKILL)
            aggregator.start()
            assert aggregator.runs == 2
            [during_grace] = _open(aggregator)
            assert (during_grace["id"], during_grace["opened_at"]) == (
                before["id"],
                before["opened_at"],
            )
            await eventually(lambda: _statuses(aggregator)["ndc-b"] == "down")
            await eventually(lambda: _statuses(aggregator)["prov-c"] == "degraded")
            [after] = _open(aggregator)
            assert (after["id"], after["opened_at"], after["kind"]) == (
                before["id"],
                before["opened_at"],
                "center",
            )
            assert "continuing 1 open incident(s) from the state store" in aggregator.log_text()

            await agents.offline("prov-c")  # its agent dies, ndc-a still reaches it: stale
            await eventually(lambda: len(_open(aggregator)) == 2)
            numbers = sorted(int(i["id"].removeprefix("inc-")) for i in _open(aggregator))
            assert numbers == [int(before["id"].removeprefix("inc-")), numbers[0] + 1]

            await _repair(agents, "prov-c")
            await _repair(agents, "ndc-b")
            await eventually(lambda: _open(aggregator) == [])
            resolved = aggregator.json(f"/api/v1/incidents/{before['id']}")["incident"]
            assert resolved["state"] == "resolved"
            assert resolved["opened_at"] == before["opened_at"]
            await eventually(lambda: _stored_state(store, before["id"]) == "resolved")


@pytest.mark.parametrize(
    "breakage",
    ["garbage", "directory", "missing-parent"],
    ids=["corrupt file", "a directory", "unopenable path"],
)
async def test_a_store_that_cannot_be_used_is_one_log_line_and_monitoring_goes_on(
    mosquitto: Mosquitto, tmp_path: Path, breakage: str
) -> None:
    """A store file of garbage, a directory in its place or a path that cannot be created: one
    clear log line naming it, ``dcmon_store_healthy 0``, and the aggregator still derives
    statuses and incidents and answers reports (from memory)."""
    store = tmp_path / "state.db"
    if breakage == "garbage":
        store.write_bytes(b"this is not an SQLite database, it is a shopping list\n" * 100)
    elif breakage == "directory":
        store.mkdir()
    else:
        store = tmp_path / "no-such-directory" / "state.db"
    with _aggregator(tmp_path, _settings(mosquitto, tmp_path, store)) as aggregator:
        async with running_centers(mosquitto.port) as agents:
            await eventually(
                lambda: set(_statuses(aggregator).values()) <= {"connected", "degraded"}
            )
            assert aggregator.metric("dcmon_store_healthy") == 0.0
            lines = [line for line in aggregator.log_text().splitlines() if "state store" in line]
            complaints = [line for line in lines if "cannot be used" in line]
            assert len(complaints) == 1, lines
            assert str(store) in complaints[0]
            assert "kept in memory" in complaints[0]
            assert "Traceback" not in aggregator.log_text()

            await agents.fail("ndc-b")
            await eventually(lambda: [i["kind"] for i in _open(aggregator)] == ["center"])
            report = aggregator.json(f"/api/v1/report?from={time.time() - 3600:.0f}")
            assert report["store"] == {"persistent": False, "healthy": False}
            assert report["overall"]["connected_s"] > 0
            assert [i["kind"] for i in report["incidents"]] == ["center"]
    if breakage == "garbage":
        assert store.read_bytes().startswith(b"this is not an SQLite database")


async def test_a_healthy_store_is_reported_healthy(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """With a usable file ``dcmon_store_healthy`` is 1 and the file is an SQLite database in WAL
    mode at the current schema version."""
    store = tmp_path / "state.db"
    with _aggregator(tmp_path, _settings(mosquitto, tmp_path, store)) as aggregator:
        assert aggregator.metric("dcmon_store_healthy") == 1.0
    with contextlib.closing(sqlite3.connect(store)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 2


async def test_a_store_locked_by_another_process_costs_history_not_monitoring(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Another process holds the store's file locked (``BEGIN EXCLUSIVE``) while ndc-b fails:
    the write fails after SQLite's busy timeout with one log line and ``dcmon_store_healthy 0``,
    statuses and incidents keep coming meanwhile, and once the lock is gone the next write
    succeeds and the metric is 1 again."""
    store = tmp_path / "state.db"
    with _aggregator(tmp_path, _settings(mosquitto, tmp_path, store)) as aggregator:
        async with running_centers(mosquitto.port) as agents:
            await eventually(
                lambda: set(_statuses(aggregator).values()) <= {"connected", "degraded"}
            )
            with contextlib.closing(sqlite3.connect(store, isolation_level=None)) as holder:
                holder.execute("BEGIN EXCLUSIVE")
                await agents.fail("ndc-b")
                await eventually(lambda: [i["kind"] for i in _open(aggregator)] == ["center"])
                await eventually(lambda: aggregator.metric("dcmon_store_healthy") == 0.0)
                # Still judged while the store waits (its probes age: down, then unreachable).
                assert _statuses(aggregator)["ndc-b"] in ("down", "unreachable")
                holder.execute("ROLLBACK")
            failures = [
                line for line in aggregator.log_text().splitlines() if "a write failed" in line
            ]
            assert len(failures) == 1
            assert "database is locked" in failures[0]
            await _repair(agents, "ndc-b")
            await eventually(lambda: _open(aggregator) == [])
            await eventually(lambda: aggregator.metric("dcmon_store_healthy") == 1.0)
            assert "writes succeed again" in aggregator.log_text()


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


async def test_a_maintenance_window_declared_over_the_api_survives_a_restart(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A window declared with POST /api/v1/maintenance is in the store's ``maintenance`` table
    and still holds after the aggregator is killed and started again: prov-d is in maintenance
    with the same window id, and the next window gets the next id."""
    store = tmp_path / "state.db"
    with _aggregator(tmp_path, _settings(mosquitto, tmp_path, store)) as aggregator:
        async with running_centers(mosquitto.port):
            base = f"http://127.0.0.1:{aggregator.port}/api/v1/maintenance"
            window = _post(base, {"center": "prov-d", "end": time.time() + 3600, "reason": "UPS"})
            await eventually(lambda: _statuses(aggregator)["prov-d"] == "maintenance")
            aggregator.stop(signal.SIGKILL)
            aggregator.start()
            [kept] = aggregator.json("/api/v1/maintenance")["windows"]
            assert (kept["id"], kept["reason"], kept["state"]) == (
                window["window"]["id"],
                "UPS",
                "active",
            )
            await eventually(lambda: _statuses(aggregator)["prov-d"] == "maintenance")
            second = _post(base, {"center": "prov-c", "end": time.time() + 60, "reason": "fan"})
            assert second["window"]["id"] != kept["id"]
