"""An executor of daemon threads, so that a stuck blocking call never holds up the exit.

asyncio runs DNS lookups (``getaddrinfo``) and aiomqtt's connect in the loop's default executor.
The standard thread pool joins its threads at exit, so one lookup stuck on a dead resolver would
keep a stopping agent alive for as long as the resolver takes. Daemon threads are abandoned
instead; the work they were doing is no longer wanted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class DaemonThreadExecutor(ThreadPoolExecutor):
    """Runs each call in its own daemon thread, at most ``max_workers`` at a time.

    A ``ThreadPoolExecutor`` only in type (asyncio's default executor must be one); none of the
    pool's own threads is ever started.
    """

    def __init__(self, max_workers: int = 16) -> None:
        super().__init__(max_workers=1)
        self._slots = threading.BoundedSemaphore(max_workers)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Schedule ``fn(*args, **kwargs)``; its result arrives in the returned future."""
        future: Future[T] = Future()

        def run() -> None:
            with self._slots:
                if not future.set_running_or_notify_cancel():
                    return
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    future.set_exception(exc)

        threading.Thread(target=run, name="dcmon-blocking-call", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to wait for: unfinished calls are abandoned with their daemon threads."""
