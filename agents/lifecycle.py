"""Lifecycle helpers shared by the agent and the aggregator: stopping tasks, signals, stdout.

Both entry points run in asyncio and must end cleanly on SIGINT/SIGTERM, cancelling their
background tasks and waiting for them; the agent package owns this module because the agent must
not import anything from ``monitor`` (it installs alone), while the aggregator may import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any


async def cancel_and_wait(tasks: set[asyncio.Task[Any]] | set[asyncio.Future[Any]]) -> None:
    """Cancel tasks and wait until all are done, cancelling again any that swallowed it.

    Python 3.11's ``asyncio.wait_for`` (used by aiomqtt's publish) can drop a cancellation that
    races with the completion it waits for; a second cancel then ends the task.
    """
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved


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


@contextlib.contextmanager
def call_on_hangup(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` in the running loop on every SIGHUP while inside the block."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, callback)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


def stdout_reader_gone() -> None:
    """Call on ``BrokenPipeError``: whoever read stdout (``| head``) has stopped reading.

    Points stdout at /dev/null so that the interpreter's final flush does not fail a second time
    (and print a traceback); the caller then exits 0, quietly, as other Unix tools do.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
