"""Maintenance windows declared at runtime (DESIGN §11): the book of them, and its requests.

``MaintenanceBook`` keeps every window with its id, author and lifecycle; the status engine
only sees the windows themselves (``windows()``). A state store persists the book through two
seams: the rows it was started with, and a ``save(row)`` callback called on every change. A row
is a plain dict with the keys of ``ROW_KEYS`` (times are Unix seconds).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from agents.errors import ParameterError
from monitor.config import MaintenanceSettings
from monitor.registry import Registry, link_key
from monitor.status.maintenance import MaintenanceKind, MaintenanceWindow

logger = logging.getLogger(__name__)

ROW_KEYS: Final = (
    "id",
    "kind",
    "ids",
    "start",
    "end",
    "reason",
    "author",
    "created_at",
    "ended_at",
)
"""The columns of a persisted window."""
CONFIG_AUTHOR: Final = "config"
"""The author of the windows that come from the aggregator config's ``maintenance:``."""
ANONYMOUS_AUTHOR: Final = "anonymous"
"""The author of a window declared without basic auth and without ``author``."""
MAX_REASON: Final = 500
REQUEST_FIELDS: Final = ("center", "link", "start", "end", "reason", "author")
WindowState = Literal["scheduled", "active", "ended"]
WINDOW_STATES: Final[tuple[WindowState, ...]] = ("scheduled", "active", "ended")

SaveRow = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class MaintenanceEntry:
    """One declared window of a center or a link, with who declared it and its lifecycle."""

    id: str
    kind: MaintenanceKind
    ids: tuple[str, ...]
    """``(center,)`` or ``(a, b)`` with ``a < b``."""
    start: float
    end: float
    reason: str
    author: str
    created_at: float
    ended_at: float | None = None
    """When it was ended early (``end`` stays what was declared)."""

    @property
    def window(self) -> MaintenanceWindow:
        """The window the status engine applies (ending early if it was ended)."""
        end = self.end if self.ended_at is None else min(self.end, self.ended_at)
        return MaintenanceWindow(self.ids, self.start, max(self.start, end), self.reason)

    def state(self, now: float) -> WindowState:
        """``scheduled`` (not started yet), ``active`` or ``ended``."""
        window = self.window
        if now >= window.end:
            return "ended"
        return "active" if now >= window.start else "scheduled"

    def row(self) -> dict[str, Any]:
        """The persisted form (``ROW_KEYS``)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "ids": list(self.ids),
            "start": self.start,
            "end": self.end,
            "reason": self.reason,
            "author": self.author,
            "created_at": self.created_at,
            "ended_at": self.ended_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MaintenanceEntry:
        """An entry from its persisted form (``KeyError``/``ValueError`` if malformed)."""
        ids = tuple(str(i) for i in row["ids"])
        kind: MaintenanceKind = "center" if row["kind"] == "center" else "link"
        if len(ids) != (1 if kind == "center" else 2) or row["kind"] not in ("center", "link"):
            raise ValueError(f"maintenance row {row.get('id')!r}: kind and ids disagree")
        ended = row.get("ended_at")
        return cls(
            id=str(row["id"]),
            kind=kind,
            ids=ids if kind == "center" else link_key(ids[0], ids[1]),
            start=float(row["start"]),
            end=float(row["end"]),
            reason=str(row.get("reason") or ""),
            author=str(row.get("author") or ""),
            created_at=float(row["created_at"]),
            ended_at=None if ended is None else float(ended),
        )


@dataclass(frozen=True, slots=True)
class MaintenanceRequest:
    """A validated request for a new window."""

    kind: MaintenanceKind
    ids: tuple[str, ...]
    start: float
    end: float
    reason: str
    author: str


class MaintenanceBook:
    """Every maintenance window declared, in memory, persisted through ``save`` if given.

    Args:
        rows: the windows a state store kept (``ROW_KEYS``); malformed ones are logged and left.
        save: called with a window's row whenever one is added or ended.
    """

    def __init__(self, rows: Iterable[Mapping[str, Any]] = (), save: SaveRow | None = None) -> None:
        self._save = save
        self._entries: dict[str, MaintenanceEntry] = {}
        for row in rows:
            try:
                entry = MaintenanceEntry.from_row(row)
            except (KeyError, TypeError, ValueError) as exc:
                logger.warning("ignoring a stored maintenance window: %s", exc)
                continue
            self._entries[entry.id] = entry
        numbers = (_number(i) for i in self._entries)
        self._ids = itertools.count(max(numbers, default=0) + 1)

    def entries(self) -> list[MaintenanceEntry]:
        """Every window, oldest declared first."""
        return sorted(self._entries.values(), key=lambda e: (e.created_at, _number(e.id)))

    def get(self, entry_id: str) -> MaintenanceEntry | None:
        """The window ``entry_id``, if declared."""
        return self._entries.get(entry_id)

    def windows(self) -> tuple[MaintenanceWindow, ...]:
        """What the status engine applies: every window, as it stands."""
        return tuple(entry.window for entry in self.entries())

    def add(self, request: MaintenanceRequest, now: float) -> MaintenanceEntry:
        """Declare a window (id ``mw-<n>``, never reused)."""
        entry = MaintenanceEntry(
            id=f"mw-{next(self._ids)}",
            kind=request.kind,
            ids=request.ids,
            start=request.start,
            end=request.end,
            reason=request.reason,
            author=request.author,
            created_at=now,
        )
        self._entries[entry.id] = entry
        self._persist(entry)
        return entry

    def end(self, entry_id: str, now: float) -> MaintenanceEntry | None:
        """End a window now (one not started yet is cancelled); None if there is no such id.

        A window already over is returned as it is.
        """
        entry = self._entries.get(entry_id)
        if entry is None or entry.state(now) == "ended":
            return entry
        entry = replace(entry, ended_at=now)
        self._entries[entry.id] = entry
        self._persist(entry)
        return entry

    def adopt_config(self, declared: Iterable[MaintenanceSettings], now: float) -> list[str]:
        """Make the config's ``maintenance:`` entries windows (at start and at every reload).

        An entry already in the book (same center, start and end, from the config) is not added
        twice; a config window no longer in the config is ended. Returns the ids added.
        """
        wanted = {(w.center, w.start.timestamp(), w.end.timestamp()): w for w in declared}
        from_config = {
            (e.ids[0], e.start, e.end): e
            for e in self._entries.values()
            if e.author == CONFIG_AUTHOR and e.kind == "center"
        }
        for key, entry in from_config.items():
            if key not in wanted:
                self.end(entry.id, now)
        added = []
        for key, settings in wanted.items():
            if key in from_config:
                continue
            request = MaintenanceRequest(
                "center", (settings.center,), key[1], key[2], settings.reason, CONFIG_AUTHOR
            )
            added.append(self.add(request, now).id)
        return added

    def _persist(self, entry: MaintenanceEntry) -> None:
        if self._save is None:
            return
        try:
            self._save(entry.row())
        except Exception:  # contained: the window holds in memory whatever the store does
            logger.exception("could not persist maintenance window %s", entry.id)


def _number(entry_id: str) -> int:
    number = entry_id.removeprefix("mw-")
    return int(number) if number.isdigit() else 0


# --- requests ------------------------------------------------------------------------------------


def parse_time(value: object, field: str) -> float:
    """Unix seconds, or an ISO-8601 time with a UTC offset (``ParameterError`` naming ``field``)."""
    if isinstance(value, bool):
        raise ParameterError(field, f"{value!r} is not a time")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ParameterError(field, "give an ISO-8601 time with a UTC offset or Unix seconds")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ParameterError(
            field, f"{value!r} is not an ISO-8601 time like 2025-01-31T22:00:00+07:00"
        ) from None
    if parsed.tzinfo is None:
        raise ParameterError(field, f"{value!r} needs a UTC offset, e.g. +07:00 or Z")
    return parsed.timestamp()


def parse_request(
    body: object, registry: Registry, now: float, user: str | None
) -> MaintenanceRequest:
    """Validate a ``POST /api/v1/maintenance`` body against the registry.

    ``{"center": ID}`` or ``{"link": [A, B]}``, ``start`` (default now), ``end``, ``reason``,
    ``author`` (default the basic-auth user).

    Raises:
        ParameterError: naming the field that is wrong.
    """
    if not isinstance(body, dict):
        raise ParameterError("body", "must be a JSON object with center or link, end and reason")
    for key in body:
        if key not in REQUEST_FIELDS:
            raise ParameterError(str(key), f"unknown field; give {', '.join(REQUEST_FIELDS)}")
    kind, ids = _subject(body, registry)
    start = now if body.get("start") is None else parse_time(body["start"], "start")
    if "end" not in body:
        raise ParameterError("end", "required: when the work will be over")
    end = parse_time(body["end"], "end")
    if end <= now:
        raise ParameterError("end", "is in the past: a window must end in the future")
    if end <= start:
        raise ParameterError("end", "must be after start")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ParameterError("reason", "required: say what the work is")
    if len(reason) > MAX_REASON:
        raise ParameterError("reason", f"longer than {MAX_REASON} characters")
    author = body.get("author", user)
    if author is None:
        author = ANONYMOUS_AUTHOR
    if not isinstance(author, str) or not author.strip() or len(author) > 100:
        raise ParameterError("author", "must be a name of 1 to 100 characters")
    return MaintenanceRequest(kind, ids, start, end, reason.strip(), author.strip())


def _subject(
    body: Mapping[str, Any], registry: Registry
) -> tuple[MaintenanceKind, tuple[str, ...]]:
    center, link = body.get("center"), body.get("link")
    if (center is None) == (link is None):
        field = "link" if center is not None else "center"
        raise ParameterError(field, "give exactly one of center or link")
    if center is not None:
        if not isinstance(center, str) or center not in registry.centers_by_id:
            raise ParameterError("center", f"{center!r} is not a registered center")
        return "center", (center,)
    if (
        not isinstance(link, list)
        or len(link) != 2
        or not all(isinstance(end, str) for end in link)
    ):
        raise ParameterError("link", "must be a list of two center ids, [A, B]")
    key = link_key(link[0], link[1])
    if key not in {spec.key for spec in registry.links}:
        raise ParameterError("link", f"{key[0]}--{key[1]} is not a registered link")
    return "link", key
