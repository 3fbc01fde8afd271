"""Recent events: a ring buffer for ``/api/v1/events`` and live feeds for SSE.

Three kinds share one sequence (the snapshot builder numbers them): center status transitions,
link state changes and incident changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from monitor.status.model import Incident, IncidentEvent, LinkEvent, Snapshot, StatusEvent

logger = logging.getLogger(__name__)

SUBSCRIBER_QUEUE = 1000

Event = StatusEvent | LinkEvent | IncidentEvent
EventType = Literal["center", "link", "incident"]
EVENT_TYPES: Final[tuple[EventType, ...]] = ("center", "link", "incident")


def event_type(event: Event) -> EventType:
    """``center`` (a status transition), ``link`` (a state change) or ``incident``."""
    if isinstance(event, StatusEvent):
        return "center"
    if isinstance(event, LinkEvent):
        return "link"
    return "incident"


def snapshot_events(snapshot: Snapshot) -> list[Event]:
    """The events a snapshot produced, of all three types, in seq order."""
    found: list[Event] = [
        *snapshot.transitions,
        *snapshot.link_transitions,
        *snapshot.incident_changes,
    ]
    found.sort(key=lambda e: e.seq)
    return found


def incident_centers(incident: Incident) -> frozenset[str]:
    """The centers an incident concerns: failed centers, both ends of failed links, victims."""
    finding = incident.finding
    return frozenset(
        {
            *finding.centers,
            *(end for key in finding.links for end in key),
            *(victim.center for victim in finding.victims),
        }
    )


def concerned_centers(events: Iterable[Event], snapshot: Snapshot) -> dict[str, frozenset[str]]:
    """For each incident event's incident: the centers it concerns, as ``snapshot`` has it."""
    wanted = {e.incident for e in events if isinstance(e, IncidentEvent)}
    out: dict[str, frozenset[str]] = {}
    for incident_id in wanted:
        incident = snapshot.incidents.get(incident_id)
        if incident is None:  # just resolved: among the newest of the resolved
            incident = next(
                (i for i in reversed(snapshot.resolved_incidents) if i.id == incident_id), None
            )
        if incident is not None:
            out[incident_id] = incident_centers(incident)
    return out


@dataclass(frozen=True, slots=True)
class _Entry:
    event: Event
    type: EventType
    centers: frozenset[str]
    """The centers the event concerns (what ``center=`` matches)."""


class EventLog:
    """Keeps the last ``capacity`` events and hands new ones to every subscriber."""

    def __init__(self, capacity: int = 1000) -> None:
        self._entries: deque[_Entry] = deque(maxlen=capacity)
        self._subscribers: set[asyncio.Queue[Event | None]] = set()
        self._last_seq = 0

    def publish(
        self, events: Iterable[Event], involved: Mapping[str, frozenset[str]] | None = None
    ) -> list[Event]:
        """Record new events and feed them to subscribers (a subscriber that lags is dropped).

        Events at or below the last published seq were published already and are skipped (a
        snapshot may carry its predecessor's events). ``involved`` says which centers each
        incident concerns (``concerned_centers``), so ``center=`` finds its incident events.
        Returns the events published.
        """
        published: list[Event] = []
        for event in events:
            if event.seq <= self._last_seq:
                continue
            self._last_seq = event.seq
            published.append(event)
            self._entries.append(_entry(event, involved or {}))
            for queue in list(self._subscribers):
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    logger.warning("dropping an event-stream subscriber that does not keep up")
                    self._end(queue)
        return published

    def recent(
        self,
        *,
        since: int | None = None,
        center: str | None = None,
        types: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Buffered events, oldest first: after seq ``since``, concerning ``center`` (a link
        event either end, an incident event its failed elements and victims), of ``types``,
        the last ``limit``."""
        out = [
            entry.event
            for entry in self._entries
            if (since is None or entry.event.seq > since)
            and (center is None or center in entry.centers)
            and (types is None or entry.type in types)
        ]
        return out[-limit:] if limit is not None else out

    def subscribe(self) -> asyncio.Queue[Event | None]:
        """A queue receiving every new event; ``None`` means the stream ends."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event | None]) -> None:
        """Stop feeding ``queue``."""
        self._subscribers.discard(queue)

    def close(self) -> None:
        """End every live stream (on shutdown)."""
        for queue in list(self._subscribers):
            self._end(queue)

    @property
    def subscribers(self) -> int:
        """Number of live streams."""
        return len(self._subscribers)

    def _end(self, queue: asyncio.Queue[Event | None]) -> None:
        self._subscribers.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)


def _entry(event: Event, involved: Mapping[str, frozenset[str]]) -> _Entry:
    if isinstance(event, StatusEvent):
        return _Entry(event, "center", frozenset((event.center,)))
    if isinstance(event, LinkEvent):
        return _Entry(event, "link", frozenset((event.a, event.b)))
    return _Entry(event, "incident", involved.get(event.incident, frozenset()))
