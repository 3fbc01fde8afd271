"""The state store: one SQLite connection owned by one thread, fed through a queue.

The event loop only enqueues (``record`` puts a reference to a frozen snapshot on the queue,
``save_maintenance`` a row); the store's thread turns snapshots into rows, writes them in one
transaction per batch, settles the time per status, prunes old history and answers reads (reads
wait behind the writes queued before them, so they see them). A file that cannot be opened,
is not a database or was written by a newer dcmon is logged once and replaced by an in-memory
database for the run; a write that fails is logged once, its batch dropped, and the next batch
tried again: the monitor never stops because its history cannot be written.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from monitor.service.store.queries import MAINTENANCE_COLUMNS, Restored, maintenance_rows, restored
from monitor.service.store.records import INCIDENT_COLUMNS, incident_row
from monitor.service.store.schema import BUCKET_CODES, migrate
from monitor.service.store.status_time import DAY_S, Credit, StatusClock, day_of
from monitor.status.model import Incident, IncidentEvent, Snapshot

logger = logging.getLogger(__name__)
T = TypeVar("T")

IN_MEMORY: Final = ":memory:"
BATCH: Final = 256
"""Queued items folded into one transaction at most."""
SETTLE_S: Final = 300.0
"""The time per status is written at least this often (and before a report): a crash loses at
most this much of it."""
PRUNE_S: Final = 3600.0
ROW_CHUNK: Final = 100
"""Rows bound per ``executemany``; between chunks the thread hands the GIL over (``pause``)."""
PAUSE_S: Final = 0.0002
"""How long the store's thread sleeps after each slice of ~1 ms of Python work: a sleep drops
the GIL, so the event loop's thread, if it waits, takes it at once instead of after the
interpreter's switch interval (5 ms)."""
MAX_QUEUED: Final = 10_000
"""Snapshots waiting beyond this are dropped (the disk does not keep up), and counted."""


@dataclass(frozen=True, slots=True)
class Retention:
    """How long history is kept (days)."""

    history_days: float = 400.0
    """Time per status, incidents and their changes."""
    transitions_days: float = 35.0
    """Raw center and link transitions."""


@dataclass
class _Read:
    job: Callable[[sqlite3.Connection], Any]
    answer: concurrent.futures.Future[Any]
    settle: bool = False
    """Credit the time per status up to now first (a report reads it)."""


@dataclass
class _Rows:
    """What one batch writes."""

    center_transitions: list[tuple[Any, ...]] = field(default_factory=list)
    link_transitions: list[tuple[Any, ...]] = field(default_factory=list)
    incidents: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    incident_changes: list[tuple[Any, ...]] = field(default_factory=list)
    maintenance: list[tuple[Any, ...]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.center_transitions
            or self.link_transitions
            or self.incidents
            or self.incident_changes
            or self.maintenance
        )


_STOP: Final = object()


class StoreNotRunning(RuntimeError):
    """A read was asked of a store that is not running."""


class Store:
    """The aggregator's history in SQLite (DESIGN §11), written off the event loop.

    Args:
        path: the database file; ``None`` keeps it in memory for the run.
        retention: how long history is kept.
    """

    def __init__(self, path: str | None, retention: Retention | None = None) -> None:
        self.path = path
        self.retention = retention or Retention()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None
        self._clock = StatusClock(pause)
        self._rows = _Rows()
        self._last_seq = 0
        self._centers: dict[str, int] = {}
        self._settled_at = 0.0
        self._pruned_at = 0.0
        self._broken_at_open = False
        self._write_error: str | None = None
        self.problem: str | None = None
        """Why the store is unhealthy (None while it writes fine)."""
        self.dropped = 0
        """Snapshots dropped because the queue was full."""

    # --- the event loop's side ------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Whether history reaches its file (``dcmon_store_healthy``)."""
        return self.problem is None

    @property
    def persistent(self) -> bool:
        """Whether history outlives the process (a file that opened)."""
        return self.path is not None and not self._broken_at_open

    async def start(self) -> Restored:
        """Open the database in the store's thread; returns what a restart continues from."""
        self._thread = threading.Thread(target=self._serve, name="dcmon-store", daemon=True)
        self._thread.start()
        continued: Restored = await self.read(restored)
        return continued

    def record(self, snapshot: Snapshot) -> None:
        """Queue a new snapshot's events and statuses for writing (never blocks)."""
        if self._thread is None:
            return
        if self._queue.qsize() >= MAX_QUEUED:
            if self.dropped == 0:
                logger.error("state store: the disk does not keep up, dropping history")
            self.dropped += 1
            return
        self._queue.put(snapshot)

    def save_maintenance(self, row: Mapping[str, Any]) -> None:
        """Queue a maintenance window (id, kind, ids, start, end, reason, author, created_at,
        ended_at) for writing; a row with a known id replaces it."""
        values = tuple(
            json.dumps(list(row["ids"])) if name == "ids" else row.get(name)
            for name in MAINTENANCE_COLUMNS
        )
        self._queue.put(("maintenance", values))

    def maintenance_rows(self, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """Every stored maintenance window as a dict (blocks: call it at start-up or in a
        worker thread, never on the event loop)."""
        answer: concurrent.futures.Future[list[dict[str, Any]]] = concurrent.futures.Future()
        self._ask(_Read(maintenance_rows, answer))
        return answer.result(timeout_s)

    async def read(self, job: Callable[[sqlite3.Connection], T], *, settle: bool = False) -> T:
        """Run ``job`` on the store's connection in its thread, after the writes queued so far
        (``settle``: and with the time per status credited up to now)."""
        answer: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._ask(_Read(job, answer, settle))
        return await asyncio.wrap_future(answer)

    def _ask(self, read: _Read) -> None:
        if self._thread is None:
            raise StoreNotRunning("the state store is not running (not started, or closed)")
        self._queue.put(read)

    async def close(self) -> None:
        """Write what is queued, settle the time per status, close the file."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(thread.join)

    # --- the store's thread ---------------------------------------------------------------

    def _serve(self) -> None:
        self._db = self._open()
        try:
            while True:
                try:
                    if not self._serve_batch():
                        break
                except Exception:  # a bug here must not end history for the whole run
                    logger.exception("state store: a batch failed; going on with the next")
                    self._rows = _Rows()
        finally:
            self._settle_and_write(time.time())
            self._db.close()

    def _serve_batch(self) -> bool:
        try:
            first = self._queue.get(timeout=SETTLE_S / 4)
        except queue.Empty:
            first = None
        items = [] if first is None else [first]
        while len(items) < BATCH:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        reads: list[_Read] = []
        running = True
        for item in items:
            if item is _STOP:
                running = False
            elif isinstance(item, Snapshot):
                self._absorb(item)
            elif isinstance(item, _Read):
                reads.append(item)
            elif isinstance(item, tuple):
                self._rows.maintenance.append(item[1])
        now = time.time()
        if any(r.settle for r in reads) or now - self._settled_at >= SETTLE_S:
            self._settle_and_write(now)
        elif self._rows:
            self._write(self._rows, {})
            self._rows = _Rows()
        for read in reads:
            self._answer(read)
        if now - self._pruned_at >= PRUNE_S:
            self._prune(now)
        return running

    def _open(self) -> sqlite3.Connection:
        target = self.path or IN_MEMORY
        try:
            db = _connect(target)
        except (sqlite3.Error, OSError) as exc:
            self._broken_at_open = True
            self.problem = f"cannot use {target}: {exc}"
            logger.error(  # one clear line, not a traceback
                "state store %s cannot be used (%s): history is kept in memory for this run "
                "(dcmon_store_healthy 0)",
                target,
                exc,
            )
            return _connect(IN_MEMORY)
        logger.info("state store %s open", target)
        return db

    def _absorb(self, snapshot: Snapshot) -> None:
        """Turn a snapshot's new events into rows and its statuses into time per status."""
        self._clock.observe(snapshot)
        rows = self._rows
        last = self._last_seq
        for event in snapshot.transitions:
            if event.seq > last:
                rows.center_transitions.append(
                    (event.at, event.center, event.old, event.new, event.why)
                )
        for link in snapshot.link_transitions:
            if link.seq > last:
                rows.link_transitions.append(
                    (link.at, link.a, link.b, link.old, link.new, link.incident)
                )
        changes = [c for c in snapshot.incident_changes if c.seq > last]
        for change in changes:
            incident = _find(snapshot, change)
            if incident is not None:
                rows.incidents[incident.id] = incident_row(incident)
            rows.incident_changes.append(
                (change.at, change.incident, change.change, change.severity, change.summary)
            )
        self._last_seq = max(
            [
                last,
                *(e.seq for e in snapshot.transitions),
                *(e.seq for e in snapshot.link_transitions),
                *(e.seq for e in snapshot.incident_changes),
            ]
        )

    def _settle_and_write(self, now: float) -> None:
        self._clock.settle(now)
        self._settled_at = now
        rows, self._rows = self._rows, _Rows()
        owed = self._clock.take()
        if rows or owed:
            self._write(rows, owed)

    def _write(self, rows: _Rows, owed: Mapping[Credit, float]) -> None:
        db = self._db
        assert db is not None
        try:
            with _transaction(db):
                self._insert(db, rows, owed)
        except sqlite3.Error as exc:
            if self._write_error is None and not self._broken_at_open:
                logger.error(  # one clear line, not a traceback
                    "state store %s: a write failed (%s): history is not being saved "
                    "(dcmon_store_healthy 0); monitoring goes on",
                    self.path or IN_MEMORY,
                    exc,
                )
                self.problem = f"write failed: {exc}"
            self._write_error = str(exc)
            return
        if self._write_error is not None:
            self._write_error = None
            if not self._broken_at_open:
                self.problem = None
                logger.info("state store %s: writes succeed again", self.path or IN_MEMORY)

    def _insert(self, db: sqlite3.Connection, rows: _Rows, owed: Mapping[Credit, float]) -> None:
        _chunked(
            db,
            "INSERT INTO center_transitions VALUES (?, ?, ?, ?, ?)",
            rows.center_transitions,
        )
        _chunked(
            db, "INSERT INTO link_transitions VALUES (?, ?, ?, ?, ?, ?)", rows.link_transitions
        )
        columns = INCIDENT_COLUMNS.split(", ")
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "id")
        _chunked(
            db,
            f"INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT (id) DO UPDATE SET {updates}",
            list(rows.incidents.values()),
        )
        _chunked(db, "INSERT INTO incident_changes VALUES (?, ?, ?, ?, ?)", rows.incident_changes)
        _chunked(
            db,
            'INSERT OR REPLACE INTO maintenance (id, kind, ids, start, "end", reason, author, '
            "created_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows.maintenance,
        )
        if owed:
            numbers = self._center_numbers(db, {center for center, _, _ in owed})
            add_status_time(db, numbers, owed)

    def _center_numbers(self, db: sqlite3.Connection, centers: set[str]) -> dict[str, int]:
        missing = centers - self._centers.keys()
        if missing:
            db.executemany(
                "INSERT OR IGNORE INTO centers (id) VALUES (?)", [(c,) for c in sorted(missing)]
            )
            self._centers.update(
                (str(center), int(number))
                for number, center in db.execute("SELECT number, id FROM centers")
            )
        return self._centers

    def _answer(self, read: _Read) -> None:
        assert self._db is not None
        if not read.answer.set_running_or_notify_cancel():
            return
        try:
            read.answer.set_result(read.job(self._db))
        except Exception as exc:  # the reader gets it; the store goes on
            read.answer.set_exception(exc)

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        history = now - self.retention.history_days * DAY_S
        transitions = now - self.retention.transitions_days * DAY_S
        db = self._db
        assert db is not None
        try:
            with _transaction(db):
                db.execute("DELETE FROM status_time WHERE day < ?", (day_of(history),))
                db.execute(
                    "DELETE FROM incidents WHERE state = 'resolved' AND resolved_at < ?",
                    (history,),
                )
                db.execute("DELETE FROM incident_changes WHERE at < ?", (history,))
                db.execute("DELETE FROM center_transitions WHERE at < ?", (transitions,))
                db.execute("DELETE FROM link_transitions WHERE at < ?", (transitions,))
        except sqlite3.Error as exc:
            logger.warning("state store: pruning old history failed (%s)", exc)


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


def _connect(target: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, schema up to date."""
    db = sqlite3.connect(target, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def add_status_time(
    db: sqlite3.Connection, numbers: Mapping[str, int], owed: Mapping[Credit, float]
) -> None:
    """Add ``owed`` seconds to the time per center, day and bucket (``numbers``: the centers'
    numbers in the ``centers`` table)."""
    _chunked(
        db,
        "INSERT INTO status_time VALUES (?, ?, ?, ?) "
        "ON CONFLICT (day, center, bucket) DO UPDATE SET ms = ms + excluded.ms",
        (
            (numbers[center], day, BUCKET_CODES[bucket], round(seconds * 1000))
            for (center, day, bucket), seconds in owed.items()
        ),
    )


def pause() -> None:
    """Hand the GIL to the event loop's thread if it waits for it (see ``PAUSE_S``)."""
    time.sleep(PAUSE_S)


def _chunked(db: sqlite3.Connection, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == ROW_CHUNK:
            db.executemany(sql, chunk)
            chunk = []
            pause()
    if chunk:
        db.executemany(sql, chunk)


def _find(snapshot: Snapshot, change: IncidentEvent) -> Incident | None:
    found = snapshot.incidents.get(change.incident)
    if found is not None:
        return found
    return next((i for i in reversed(snapshot.resolved_incidents) if i.id == change.incident), None)
