"""Recent status transitions: a ring buffer for ``/api/v1/events`` and live feeds for SSE."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable

from monitor.status.model import StatusEvent

logger = logging.getLogger(__name__)

SUBSCRIBER_QUEUE = 1000


class EventLog:
    """Keeps the last ``capacity`` status events and hands new ones to every subscriber."""

    def __init__(self, capacity: int = 1000) -> None:
        self._events: deque[StatusEvent] = deque(maxlen=capacity)
        self._subscribers: set[asyncio.Queue[StatusEvent | None]] = set()

    def publish(self, events: Iterable[StatusEvent]) -> None:
        """Record new events and feed them to subscribers (a subscriber that lags is dropped)."""
        for event in events:
            self._events.append(event)
            for queue in list(self._subscribers):
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    logger.warning("dropping an event-stream subscriber that does not keep up")
                    self._end(queue)

    def recent(
        self, *, since: int | None = None, center: str | None = None, limit: int | None = None
    ) -> list[StatusEvent]:
        """Buffered events, oldest first: after seq ``since``, of ``center``, the last ``limit``."""
        out = [
            e
            for e in self._events
            if (since is None or e.seq > since) and (center is None or e.center == center)
        ]
        return out[-limit:] if limit is not None else out

    def subscribe(self) -> asyncio.Queue[StatusEvent | None]:
        """A queue receiving every new event; ``None`` means the stream ends."""
        queue: asyncio.Queue[StatusEvent | None] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[StatusEvent | None]) -> None:
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

    def _end(self, queue: asyncio.Queue[StatusEvent | None]) -> None:
        self._subscribers.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)
