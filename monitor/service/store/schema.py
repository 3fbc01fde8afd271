"""The state store's SQLite schema: ordered migrations, applied on open (``PRAGMA user_version``).

A migration is a function taking the connection; the list's position is its version (the first
one makes version 1). A file is brought up to ``SCHEMA_VERSION`` in one transaction per step;
a file from a newer dcmon is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Final

from monitor.status.model import STATUSES

Migration = Callable[[sqlite3.Connection], None]

BLIND: Final = "blind"
"""The bucket of time a center spent ``unknown`` because the monitor had no broker."""
BUCKET_CODES: Final[Mapping[str, int]] = {
    "connected": 0,
    "degraded": 1,
    "isolated": 2,
    "stale": 3,
    "down": 4,
    "unreachable": 5,
    "maintenance": 6,
    "unknown": 7,
    BLIND: 8,
}
"""Each time bucket's code in ``status_time`` (stored: never renumber, only add)."""
BUCKETS: Final[Mapping[int, str]] = {code: name for name, code in BUCKET_CODES.items()}
assert set(BUCKET_CODES) == {*STATUSES, BLIND}, "every status needs a stored bucket code"


def _execute_all(db: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements inside the caller's transaction (``executescript`` would
    commit it first)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _v1_history(db: sqlite3.Connection) -> None:
    """Incidents with their lifecycle, transitions, and time per center per status per day."""
    _execute_all(
        db,
        """
        CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            number INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            tier TEXT NOT NULL,
            summary TEXT NOT NULL,
            elements TEXT NOT NULL,
            victims TEXT NOT NULL,
            impact TEXT NOT NULL,
            opened_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            resolved_at REAL,
            flaps INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX incidents_by_state ON incidents (state, resolved_at);
        CREATE INDEX incidents_by_opening ON incidents (opened_at);
        CREATE TABLE incident_changes (
            at REAL NOT NULL,
            incident TEXT NOT NULL,
            change TEXT NOT NULL CHECK (change IN ('opened', 'updated', 'resolved', 'reopened')),
            severity TEXT NOT NULL,
            summary TEXT NOT NULL
        );
        CREATE INDEX incident_changes_by_time ON incident_changes (at);
        CREATE TABLE center_transitions (
            at REAL NOT NULL,
            center TEXT NOT NULL,
            old TEXT NOT NULL,
            new TEXT NOT NULL,
            why TEXT NOT NULL
        );
        CREATE INDEX center_transitions_by_time ON center_transitions (at);
        CREATE TABLE link_transitions (
            at REAL NOT NULL,
            a TEXT NOT NULL,
            b TEXT NOT NULL,
            old TEXT NOT NULL,
            new TEXT NOT NULL,
            incident TEXT
        );
        CREATE INDEX link_transitions_by_time ON link_transitions (at);
        CREATE TABLE centers (number INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);
        CREATE TABLE status_time (  -- per center, UTC day and bucket, integers only (small)
            center INTEGER NOT NULL,
            day INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            ms INTEGER NOT NULL,
            PRIMARY KEY (day, center, bucket)
        ) WITHOUT ROWID;
        """,
    )


def _v2_maintenance(db: sqlite3.Connection) -> None:
    """Maintenance windows of centers and links (declared at runtime, DESIGN §11)."""
    _execute_all(
        db,
        """
        CREATE TABLE maintenance (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('center', 'link')),
            ids TEXT NOT NULL,
            start,
            "end",
            reason TEXT NOT NULL DEFAULT '',
            author TEXT NOT NULL DEFAULT '',
            created_at,
            ended_at
        );
        """,
    )


MIGRATIONS: Final[tuple[Migration, ...]] = (_v1_history, _v2_maintenance)
SCHEMA_VERSION: Final = len(MIGRATIONS)


class NewerSchemaError(sqlite3.DatabaseError):
    """The file was written by a newer dcmon (its schema version is unknown here)."""


def migrate(db: sqlite3.Connection, upto: int = SCHEMA_VERSION) -> int:
    """Apply the migrations the file lacks, up to version ``upto``; returns the version before.

    Raises:
        NewerSchemaError: the file's version is beyond this code's.
        sqlite3.DatabaseError: the file is not a database (or is corrupt).
    """
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise NewerSchemaError(
            f"schema version {found} is newer than this dcmon's ({SCHEMA_VERSION})"
        )
    for version in range(found + 1, upto + 1):
        # One transaction per step (the connection is in autocommit mode): a failed step leaves
        # the file at the previous version.
        db.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version - 1](db)
            db.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return found
