"""The store's file format: migrations bring an old file up to date with its data, a newer file
is refused, and maintenance windows round-trip as plain dicts (real SQLite files)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from monitor.service.store import Store
from monitor.service.store.records import INCIDENT_COLUMNS, incident_row
from monitor.service.store.schema import BUCKET_CODES, SCHEMA_VERSION, migrate
from monitor.status.model import STATUSES, FailedElement, Finding, Impact, Incident, Victim


def _incident(number: int, state: str) -> Incident:
    finding = Finding(
        kind="link",
        severity="warning",
        tier="regional",
        summary="the link a--b is down: 1 center lost redundancy, 0 lost the core",
        elements=(FailedElement("link", ("a", "b")),),
        victims=(Victim("c", "degraded", "provincial"),),
        impact=Impact({"degraded": 1}, {"provincial": 1}, {}, {"gpus": 8.0}),
    )
    if state == "open":
        return Incident(f"inc-{number}", "open", finding, opened_at=100.0, updated_at=110.0)
    return Incident(
        f"inc-{number}", "resolved", finding, 50.0, updated_at=60.0, resolved_at=60.0, flaps=2
    )


def _version_1_file(path: Path) -> None:
    """A file as dcmon wrote it at schema version 1, with an open and a resolved incident."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        migrate(db, upto=1)
        marks = ", ".join("?" * len(INCIDENT_COLUMNS.split(", ")))
        for incident in (_incident(7, "open"), _incident(5, "resolved")):
            db.execute(
                f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ({marks})",
                incident_row(incident),
            )


async def test_a_version_1_file_opens_with_the_current_code_and_keeps_its_incidents(
    tmp_path: Path,
) -> None:
    """A v1 file is migrated to the current version in place: its open incident comes back
    whole, numbering continues after the highest id, and the v2 maintenance table works."""
    path = tmp_path / "state.db"
    _version_1_file(path)
    store = Store(str(path))
    restored = await store.start()
    try:
        assert store.healthy
        assert store.persistent
        assert restored.open == (_incident(7, "open"),)
        assert restored.resolved == (_incident(5, "resolved"),)
        assert restored.next_number == 8
        store.save_maintenance(
            {
                "id": "mw-1",
                "kind": "link",
                "ids": ["hub-a", "hub-b"],
                "start": 1000.0,
                "end": 2000.0,
                "reason": "fibre splice",
                "author": "alice",
                "created_at": 900.0,
                "ended_at": None,
            }
        )
        version = await store.read(lambda db: db.execute("PRAGMA user_version").fetchone()[0])
        assert version == SCHEMA_VERSION
    finally:
        await store.close()
    reopened = Store(str(path))
    await reopened.start()
    try:
        windows = await asyncio.to_thread(reopened.maintenance_rows)
    finally:
        await reopened.close()
    assert windows == [
        {
            "id": "mw-1",
            "kind": "link",
            "ids": ["hub-a", "hub-b"],
            "start": 1000.0,
            "end": 2000.0,
            "reason": "fibre splice",
            "author": "alice",
            "created_at": 900.0,
            "ended_at": None,
        }
    ]


async def test_a_file_from_a_newer_dcmon_is_refused_not_guessed_at(tmp_path: Path) -> None:
    """A file at an unknown schema version is left untouched; the store runs in memory and says
    it is unhealthy."""
    path = tmp_path / "state.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = Store(str(path))
    await store.start()
    await store.close()
    assert not store.healthy
    assert not store.persistent
    assert store.problem is not None
    assert "newer" in store.problem
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


def test_every_status_has_a_stored_time_bucket_and_codes_never_move() -> None:
    """Codes are stored in files: every status has one, and the shipped ones keep their number."""
    assert set(BUCKET_CODES) == {*STATUSES, "blind"}
    assert BUCKET_CODES["connected"] == 0
    assert BUCKET_CODES["blind"] == 8
    assert sorted(BUCKET_CODES.values()) == list(range(len(BUCKET_CODES)))
