"""Maintenance windows at runtime (DESIGN §11): the book, the API and what they suppress."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from monitor.config import MaintenanceSettings
from monitor.registry import load_registry
from monitor.service.maintenance import ROW_KEYS, MaintenanceBook, MaintenanceRequest
from tests.aggregator_harness import (
    LiveAggregator,
    aggregator_config,
    eventually,
    running_centers,
    write_small_topology,
)
from tests.services import Mosquitto


def send(url: str, method: str, body: Any = None) -> tuple[int, Any]:
    """One JSON request; the status and the decoded answer (errors included)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


# --- the book ------------------------------------------------------------------------------------


def test_the_book_saves_every_change_as_a_row_and_starts_again_from_rows() -> None:
    """``save`` gets the row of each window added or ended, with exactly the agreed keys; a book
    started from those rows has the same windows and never reuses an id."""
    saved: list[dict[str, Any]] = []
    book = MaintenanceBook(save=saved.append)
    request = MaintenanceRequest("link", ("ndc-a", "prov-c"), 100.0, 200.0, "fibre", "ana")
    first = book.add(request, now=50.0)
    book.end(first.id, now=150.0)
    assert [tuple(row) for row in saved] == [ROW_KEYS, ROW_KEYS]
    assert saved[-1] == {
        "id": "mw-1",
        "kind": "link",
        "ids": ["ndc-a", "prov-c"],
        "start": 100.0,
        "end": 200.0,
        "reason": "fibre",
        "author": "ana",
        "created_at": 50.0,
        "ended_at": 150.0,
    }
    again = MaintenanceBook([saved[-1]])
    assert again.windows() == book.windows()
    assert again.windows()[0].end == 150.0
    assert again.add(request, now=160.0).id == "mw-2"


def test_a_failing_save_keeps_the_window_in_memory() -> None:
    """A store that cannot write does not lose the window (the failure is logged)."""

    def broken(row: dict[str, Any]) -> None:
        raise OSError("disk full")

    book = MaintenanceBook(save=broken)
    book.add(MaintenanceRequest("center", ("prov-c",), 0.0, 10.0, "upgrade", "ana"), now=0.0)
    assert len(book.windows()) == 1


def test_config_windows_are_added_once_and_ended_when_removed_from_the_config() -> None:
    """The YAML's ``maintenance:`` becomes windows by author ``config``; adopting it again adds
    nothing; a window taken out of the YAML ends."""
    utc = dt.UTC
    declared = MaintenanceSettings(
        center="prov-c",
        start=dt.datetime(2030, 1, 1, tzinfo=utc),
        end=dt.datetime(2030, 1, 2, tzinfo=utc),
        reason="planned",
    )
    book = MaintenanceBook()
    assert book.adopt_config([declared], now=0.0) == ["mw-1"]
    assert book.adopt_config([declared], now=1.0) == []
    assert [e.author for e in book.entries()] == ["config"]
    book.adopt_config([], now=2.0)
    assert book.entries()[0].ended_at == 2.0


# --- the API, with a real broker and agents ------------------------------------------------------


async def test_a_center_window_declared_over_the_api_makes_it_maintenance_until_ended(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """POST a window for prov-d: it is ``maintenance`` (and listed active); DELETE it: judged
    connected again."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        async with running_centers(mosquitto.port):
            await eventually(lambda: live.statuses()["prov-d"] == "degraded")
            status, answer = send(
                live.url + "/api/v1/maintenance",
                "POST",
                {"center": "prov-d", "end": time.time() + 3600, "reason": "UPS swap"},
            )
            assert status == 201
            window = answer["window"]
            assert window["kind"] == "center"
            assert window["ids"] == ["prov-d"]
            assert window["author"] == "anonymous"
            assert window["ended_at"] is None
            await eventually(lambda: live.statuses()["prov-d"] == "maintenance")
            listed = live.json("/api/v1/maintenance")["windows"]
            assert [(w["id"], w["state"]) for w in listed] == [(window["id"], "active")]
            assert live.metric('dcmon_center_status{center="prov-d",status="maintenance"}') == 1
            status, answer = send(f"{live.url}/api/v1/maintenance/{window['id']}", "DELETE")
            assert status == 200
            assert answer["window"]["state"] == "ended"
            await eventually(lambda: live.statuses()["prov-d"] == "degraded")
            assert live.json("/api/v1/maintenance")["count"] == 0
            assert live.json("/api/v1/maintenance?state=ended")["count"] == 1


async def test_a_link_in_maintenance_opens_no_incident_until_its_window_ends(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """End to end: ndc-a--prov-c cut while in a window declared over the API is down, shown in
    maintenance (API and metrics), and opens no incident (so no DcmonIncident); ending the
    window opens the incident that was held back."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        async with running_centers(mosquitto.port) as agents:
            await eventually(lambda: live.statuses()["prov-c"] == "connected")
            status, answer = send(
                live.url + "/api/v1/maintenance",
                "POST",
                {
                    "link": ["prov-c", "ndc-a"],
                    "end": time.time() + 3600,
                    "reason": "fibre re-splice",
                    "author": "noc",
                },
            )
            assert status == 201
            assert answer["window"]["ids"] == ["ndc-a", "prov-c"]
            agents.unreachable |= {("ndc-a", "prov-c"), ("prov-c", "ndc-a")}
            await agents.report_links("ndc-a")
            await agents.report_links("prov-c")

            def link() -> dict[str, Any]:
                found = live.json("/api/v1/links")["links"]
                return next(x for x in found if (x["a"], x["b"]) == ("ndc-a", "prov-c"))

            await eventually(lambda: link()["state"] == "down")
            assert link()["in_maintenance"]
            assert live.metric('dcmon_link_maintenance{a="ndc-a",b="prov-c"}') == 1
            # Evaluations later (value refreshes every second), still no incident, so no
            # dcmon_incident_info series for a DcmonIncident to fire on.
            assert live.aggregator is not None
            seen = live.aggregator.evaluations
            await eventually(lambda: live.aggregator and live.aggregator.evaluations >= seen + 2)
            assert live.json("/api/v1/incidents")["count"] == 0
            assert b"dcmon_incident_info{" not in live.get("/metrics")[1]
            send(f"{live.url}/api/v1/maintenance/{answer['window']['id']}", "DELETE")
            await agents.report_links("ndc-a")  # fresh again (reports count for 5 s here)
            await agents.report_links("prov-c")
            await eventually(lambda: live.json("/api/v1/incidents")["count"] == 1)
            incident = live.json("/api/v1/incidents")["incidents"][0]
            assert incident["elements"]["links"] == [{"a": "ndc-a", "b": "prov-c"}]
            assert live.metric('dcmon_link_maintenance{a="ndc-a",b="prov-c"}') == 0


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"center": "prov-x", "end": 4e9, "reason": "r"}, "center", "not a registered center"),
        ({"link": ["ndc-a", "prov-d"], "end": 4e9, "reason": "r"}, "link", "not a registered"),
        ({"link": ["ndc-a"], "end": 4e9, "reason": "r"}, "link", "two center ids"),
        ({"center": "prov-c", "link": ["ndc-a", "ndc-b"], "end": 4e9, "reason": "r"}, "link", ""),
        ({"end": 4e9, "reason": "r"}, "center", "exactly one"),
        ({"center": "prov-c", "start": 4e9, "end": 3e9, "reason": "r"}, "end", "after start"),
        ({"center": "prov-c", "end": 1000, "reason": "r"}, "end", "in the past"),
        ({"center": "prov-c", "reason": "r"}, "end", "required"),
        ({"center": "prov-c", "end": "tomorrow", "reason": "r"}, "end", "ISO-8601"),
        ({"center": "prov-c", "end": "2031-01-01T00:00:00", "reason": "r"}, "end", "UTC offset"),
        ({"center": "prov-c", "end": 4e9}, "reason", "required"),
        ({"center": "prov-c", "end": 4e9, "reason": "r", "author": ""}, "author", ""),
        ({"center": "prov-c", "end": 4e9, "reason": "r", "colour": "red"}, "colour", "unknown"),
        (["prov-c"], "body", "JSON object"),
    ],
)
def test_a_bad_window_is_refused_with_a_400_naming_the_field(
    tmp_path: Path, body: Any, field: str, words: str
) -> None:
    """Unknown center, unregistered link, end before start or in the past, no reason…: 400 with
    the field named, and nothing declared."""
    topology = write_small_topology(tmp_path)
    config = aggregator_config("mqtt://127.0.0.1:1", topology)
    with LiveAggregator(config, load_registry(topology)) as live:
        status, answer = send(live.url + "/api/v1/maintenance", "POST", body)
        assert status == 400
        assert answer["parameter"] == field
        assert words in answer["error"]
        assert live.json("/api/v1/maintenance?state=all")["count"] == 0


def test_an_unknown_window_id_is_a_404(tmp_path: Path) -> None:
    """GET or DELETE of a window never declared: 404 with a JSON error."""
    config = aggregator_config("mqtt://127.0.0.1:1", write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        for method in ("GET", "DELETE"):
            status, answer = send(live.url + "/api/v1/maintenance/mw-9", method)
            assert status == 404
            assert "mw-9" in answer["error"]


def test_the_config_maintenance_entries_become_windows_at_start(tmp_path: Path) -> None:
    """A ``maintenance:`` entry of the aggregator YAML is a window from the start, by ``config``."""
    now = dt.datetime.now(dt.UTC)
    config = aggregator_config(
        "mqtt://127.0.0.1:1",
        write_small_topology(tmp_path),
        maintenance=(
            MaintenanceSettings(
                center="prov-c",
                start=now - dt.timedelta(hours=1),
                end=now + dt.timedelta(hours=1),
                reason="rack move",
            ),
        ),
    )
    with LiveAggregator(config) as live:
        windows = live.json("/api/v1/maintenance")["windows"]
        assert [(w["ids"], w["author"], w["state"], w["reason"]) for w in windows] == [
            (["prov-c"], "config", "active", "rack move")
        ]
