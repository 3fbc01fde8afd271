"""What the store answers: the incidents a restart continues, history for the API, maintenance.

Each function takes the store's connection and runs in its thread (``Store.read``).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Final

from monitor.service.maintenance import ROW_KEYS
from monitor.service.store.records import INCIDENT_COLUMNS, incident_of
from monitor.status.model import Incident

RESOLVED_RESTORED: Final = 1000
"""Resolved incidents handed back at start-up (the API's in-memory history, and flaps)."""
MAINTENANCE_COLUMNS: Final = ROW_KEYS
"""A maintenance window's columns: the keys of its persisted row (one definition)."""


@dataclass(frozen=True, slots=True)
class Restored:
    """What a restart continues from: the open incidents and the next incident number."""

    open: tuple[Incident, ...] = ()
    resolved: tuple[Incident, ...] = ()
    """The most recently resolved, oldest first."""
    next_number: int = 1


def restored(db: sqlite3.Connection) -> Restored:
    open_now = [
        incident_of(row)
        for row in db.execute(
            f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE state = 'open' ORDER BY number"
        )
    ]
    resolved = [
        incident_of(row)
        for row in db.execute(
            f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE state = 'resolved' "
            "ORDER BY resolved_at DESC, number DESC LIMIT ?",
            (RESOLVED_RESTORED,),
        )
    ]
    resolved.reverse()
    highest = db.execute("SELECT max(number) FROM incidents").fetchone()[0]
    return Restored(tuple(open_now), tuple(resolved), int(highest or 0) + 1)


def maintenance_rows(db: sqlite3.Connection) -> list[dict[str, Any]]:
    quoted = ", ".join(f'"{c}"' for c in MAINTENANCE_COLUMNS)
    rows = []
    for values in db.execute(f"SELECT {quoted} FROM maintenance ORDER BY created_at, id"):
        row = dict(zip(MAINTENANCE_COLUMNS, values, strict=True))
        row["ids"] = json.loads(row["ids"])
        rows.append(row)
    return rows


def resolved_incidents(
    db: sqlite3.Connection,
    since: float,
    until: float | None = None,
    severity: str | None = None,
) -> list[Incident]:
    """Resolved incidents open at some time in ``[since, until]``, oldest opened first."""
    sql = f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE state = 'resolved' AND resolved_at >= ?"
    args: list[Any] = [since]
    if until is not None:
        sql += " AND opened_at <= ?"
        args.append(until)
    if severity is not None:
        sql += " AND severity = ?"
        args.append(severity)
    return [incident_of(row) for row in db.execute(sql + " ORDER BY opened_at, number", args)]


def incident_by_id(db: sqlite3.Connection, incident_id: str) -> Incident | None:
    """One stored incident."""
    row = db.execute(
        f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)
    ).fetchone()
    return None if row is None else incident_of(row)
