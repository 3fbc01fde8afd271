"""Turn SIGINT and SIGTERM into a graceful stop of an asyncio entry point."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT or SIGTERM while inside the block (call it in the running loop)."""
    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
