"""Availability reports over the real HTTP API from a real SQLite store: figures checked against
hand-computed days, incidents beyond the in-memory history, and clear 400s."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.service.store import Store
from monitor.status.model import Status
from tests.aggregator_harness import LiveAggregator, aggregator_config, write_small_topology
from tests.services import Mosquitto
from tests.store_history import History

pytestmark = pytest.mark.integration

H = 3600.0
DAY = 24 * H
ALL_CONNECTED: dict[str, Any] = dict.fromkeys(("ndc-a", "ndc-b", "prov-c", "prov-d"), "connected")


async def _write(store_path: Path, history: History) -> None:
    """Feed ``history``'s snapshots to a real store on ``store_path`` and close it."""
    store = Store(str(store_path))
    await store.start()
    for snapshot in history.snapshots:
        store.record(snapshot)
    await store.close()
    assert store.healthy


def _two_past_days() -> float:
    """Midnight (UTC) starting the day before yesterday."""
    return (time.time() // DAY - 2) * DAY


async def _synthetic_days(store_path: Path) -> float:
    """Day D: prov-c down 06-12 (incident inc-1), prov-d in maintenance 00-04 and down 22-24.
    Day D+1: the monitor blind 00-06, then everything connected. Returns D's midnight."""
    d = _two_past_days()
    history = History({**ALL_CONNECTED, "prov-d": "maintenance"}, d)
    history.change(d + 4 * H, prov_d="connected")
    history.change(d + 6 * H, prov_c="down")
    incident = history.open_incident(d + 6 * H, 1, "prov-c", [("prov-c", "down")])
    history.change(d + 12 * H, prov_c="connected")
    history.resolve(d + 12 * H, incident)
    history.change(d + 22 * H, prov_d="down")
    unknown: dict[str, Status] = dict.fromkeys(ALL_CONNECTED, "unknown")
    history.change(d + DAY, blind=True, **unknown)
    history.change(d + DAY + 6 * H, blind=False, **ALL_CONNECTED)
    await _write(store_path, history)
    return d


def _by_center(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["center"]: c for c in report["centers"]}


async def test_a_synthetic_day_reports_the_hand_computed_ratios(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A center down 6 h of a 24 h day is 75 % connected; 4 h of maintenance count neither way
    (prov-d: 18 h connected, 2 h down: 90 %); the next day's 6 blind hours count neither way
    either (100 %); tiers and the whole federation add the seconds up; the incident shows with
    its duration, the MTTR of its kind and tier, and prov-c as the worst element."""
    store = tmp_path / "state.db"
    d = await _synthetic_days(store)
    config = aggregator_config(
        mosquitto.url, write_small_topology(tmp_path), state_store=str(store)
    )
    with LiveAggregator(config) as live:
        day_d = dt.datetime.fromtimestamp(d, dt.UTC).date().isoformat()
        report = live.json(f"/api/v1/report?from={day_d}&to={d + DAY:.0f}")
        assert (report["from"], report["to"], report["days"]) == (d, d + DAY, 1)
        centers = _by_center(report)
        assert centers["prov-c"]["connected_ratio"] == 0.75
        assert (centers["prov-c"]["connected_s"], centers["prov-c"]["down_s"]) == (18 * H, 6 * H)
        assert centers["prov-c"]["meets_target"] is False
        assert centers["prov-d"]["connected_ratio"] == pytest.approx(0.9)
        assert centers["prov-d"]["maintenance_s"] == 4 * H
        assert centers["prov-d"]["down_s"] == 2 * H
        assert centers["ndc-a"]["connected_ratio"] == 1.0
        assert centers["ndc-a"]["meets_target"] is True
        assert all(c["unobserved_s"] == 0 and c["blind_s"] == 0 for c in centers.values())
        assert report["tiers"]["provincial"]["connected_ratio"] == pytest.approx(36 / 44)
        assert report["tiers"]["national"]["connected_ratio"] == 1.0
        assert report["overall"]["connected_ratio"] == pytest.approx(84 / 92)
        assert report["regions"]["central"]["down_s"] == 6 * H  # prov-c's region
        [incident] = report["incidents"]
        assert (incident["id"], incident["lost_core"]) == ("inc-1", 1)
        assert incident["duration_s"] == 6 * H
        assert report["mttr"]["by_kind"] == {"center": {"resolved": 1, "mttr_s": 6 * H}}
        assert report["mttr"]["by_tier"] == {"provincial": {"resolved": 1, "mttr_s": 6 * H}}
        assert report["worst_elements"] == [
            {"element": "prov-c", "kind": "center", "incidents": 1, "center_downtime_s": 6 * H}
        ]
        assert [day["ratio"]["all"] for day in report["daily"]] == [pytest.approx(84 / 92)]

        blind_day = live.json(f"/api/v1/report?from={d + DAY:.0f}&to={d + 2 * DAY:.0f}")
        for center in _by_center(blind_day).values():
            assert (center["connected_ratio"], center["blind_s"]) == (1.0, 6 * H)
            assert center["down_s"] == 0
        assert blind_day["incidents"] == []

        both = live.json(f"/api/v1/report?from={d:.0f}&to={d + 2 * DAY:.0f}&tier=provincial")
        assert set(_by_center(both)) == {"prov-c", "prov-d"}
        assert _by_center(both)["prov-c"]["connected_ratio"] == pytest.approx(36 / 42)
        assert len(both["daily"]) == 2

        central = live.json(f"/api/v1/report?from={d:.0f}&to={d + DAY:.0f}&region=south")
        assert set(_by_center(central)) == {"ndc-b", "prov-d"}
        assert central["incidents"] == []  # prov-c's incident concerns no center of the south


async def test_resolved_incidents_beyond_the_in_memory_history_come_from_the_store(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """1,200 resolved incidents in the store: the in-memory history keeps the last 1,000, and
    ``/api/v1/incidents`` with ``since`` reaching back (as Grafana's annotations ask) answers all
    of them in the same shape; the oldest is still found by id."""
    store = tmp_path / "state.db"
    start = _two_past_days()
    history = History(ALL_CONNECTED, start)
    for number in range(1, 1201):
        at = start + number * 60
        incident = history.open_incident(at, number, "prov-d", [("prov-d", "down")])
        history.resolve(at + 30, incident)
    await _write(store, history)
    config = aggregator_config(
        mosquitto.url, write_small_topology(tmp_path), state_store=str(store)
    )
    with LiveAggregator(config) as live:
        recent = live.json("/api/v1/incidents?state=resolved")
        assert recent["count"] == 1000
        everything = live.json(f"/api/v1/incidents?state=all&since={start:.0f}")
        assert everything["count"] == 1200
        assert [i["id"] for i in everything["incidents"][:2]] == ["inc-1", "inc-2"]
        assert set(everything["incidents"][0]) == set(recent["incidents"][0])
        window = live.json(
            f"/api/v1/incidents?state=resolved&since={start + 60:.0f}&until={start + 180:.0f}"
        )
        assert [i["id"] for i in window["incidents"]] == ["inc-1", "inc-2", "inc-3"]
        oldest = live.json("/api/v1/incidents/inc-1")["incident"]
        assert (oldest["state"], oldest["resolved_at"]) == ("resolved", start + 90)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("", "from"),
        ("from=yesterday", "from"),
        ("from=2025-12-01&to=2025-11-30", "to"),
        (f"from={time.time() + 7 * 86400:.0f}", "from"),
        ("from=1000000000", "to"),
        ("from=2025-12-01&tier=hcp", "tier"),
        ("from=2025-12-01&region=atlantis", "region"),
        ("from=2025-12-01&from=2025-12-02", "from"),
    ],
    ids=[
        "missing from",
        "not a time",
        "to before from",
        "from in the future",
        "more than ten years",
        "unknown tier",
        "unknown region",
        "repeated",
    ],
)
def test_a_bad_report_query_is_a_400_naming_the_parameter(
    mosquitto: Mosquitto, tmp_path: Path, query: str, parameter: str
) -> None:
    """Each mistake in a report's query gets a 400 whose error names the parameter."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        status, _ = live.get(f"/api/v1/report?{query}")
        assert status == 400
        assert live.json(f"/api/v1/report?{query}")["parameter"] == parameter
