"""Resilience planning jobs (DESIGN §10): the worst failures and the links that would help,
computed in worker threads, with progress, cancellable, cached until the registry changes.

A k=2 ranking of a 1,000-center federation takes a while: the HTTP request that asks for it
starts the job and answers ``202`` with its progress until it is done; later requests get the
cached answer at once. The computation itself is pure (``monitor.status.failures`` and
``monitor.status.suggestions``); this module only runs it off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Generic, Literal, TypeVar

from agents.lifecycle import cancel_and_wait
from monitor.registry import Registry
from monitor.status.failures import Cancelled, HealthyFederation, Ranking, rank_failures
from monitor.status.model import Snapshot
from monitor.status.suggestions import Suggestion, suggest_links

logger = logging.getLogger(__name__)

T = TypeVar("T")
JobState = Literal["running", "done", "failed", "cancelled"]
RANKED: Final = 100
"""Failures kept per ranking (``limit`` may ask for up to this many)."""
MAX_SUGGESTED: Final = 20
"""The largest ``max_links`` of the suggestions."""


@dataclass(eq=False)
class Job(Generic[T]):
    """One computation in a worker thread."""

    name: str
    started_at: float
    progress: float = 0.0
    state: JobState = "running"
    finished_at: float | None = None
    result: T | None = None
    error: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task[None] | None = None

    def report(self, fraction: float) -> None:
        """Progress callback (from the worker thread)."""
        self.progress = max(self.progress, min(1.0, fraction))


class PlanningJobs:
    """The resilience jobs of one aggregator: one per question, kept until the registry changes.

    Args:
        registry: the federation the jobs are about.
        snapshot: the latest snapshot (each job takes the capacity it counts from it).
    """

    def __init__(self, registry: Registry, snapshot: Callable[[], Snapshot]) -> None:
        self._registry = registry
        self._snapshot = snapshot
        self._jobs: dict[str, Job[object]] = {}

    def _federation(self) -> HealthyFederation:
        """The healthy federation with each center's last reported available capacity."""
        capacity: dict[str, Mapping[str, float]] = {
            center: {name: amount.available for name, amount in view.capacity.items()}
            for center, view in self._snapshot().centers.items()
            if view.capacity
        }
        return HealthyFederation.of(self._registry, capacity)

    def ranking(self, k: int) -> Job[Ranking]:
        """The job ranking the worst k-failures (started if it is not cached)."""
        federation = self._federation

        def work(job: Job[Ranking]) -> Ranking:
            return rank_failures(
                federation(), k, RANKED, progress=job.report, cancelled=job.stop.is_set
            )

        return self._get(f"k{k}", work)

    def suggestions(self, max_links: int) -> Job[tuple[Suggestion, ...]]:
        """The job suggesting up to ``max_links`` new links (started if it is not cached)."""
        federation = self._federation

        def work(job: Job[tuple[Suggestion, ...]]) -> tuple[Suggestion, ...]:
            return suggest_links(
                federation(), max_links, progress=job.report, cancelled=job.stop.is_set
            )

        return self._get(f"suggest{max_links}", work)

    def _get(self, name: str, work: Callable[[Job[T]], T]) -> Job[T]:
        found = self._jobs.get(name)
        if found is not None and found.state in ("running", "done"):
            return found  # type: ignore[return-value]
        job: Job[T] = Job(name, started_at=time.time())
        job.task = asyncio.create_task(self._run(job, work), name=f"dcmon-planning-{name}")
        self._jobs[name] = job  # type: ignore[assignment]
        return job

    async def _run(self, job: Job[T], work: Callable[[Job[T]], T]) -> None:
        started = time.perf_counter()
        try:
            job.result = await asyncio.to_thread(work, job)
        except Cancelled:
            job.state = "cancelled"
            logger.info("resilience job %s cancelled at %.0f %%", job.name, job.progress * 100)
            return
        except Exception as exc:  # contained: one failed job must not take the service down
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            logger.exception("resilience job %s failed", job.name)
            return
        finally:
            job.finished_at = time.time()
        job.state, job.progress = "done", 1.0
        logger.info("resilience job %s done in %.2f s", job.name, time.perf_counter() - started)

    def state(self, name: str) -> JobState | None:
        """The state of the job ``name`` (``k1``, ``k2``, ``suggest5``…), None if never asked."""
        job = self._jobs.get(name)
        return None if job is None else job.state

    def cancel(self, name: str) -> Job[object] | None:
        """Ask a running job to stop (it notices within milliseconds); None if there is none."""
        job = self._jobs.get(name)
        if job is not None and job.state == "running":
            job.stop.set()
        return job

    def forget(self, registry: Registry | None = None) -> None:
        """The registry changed (to ``registry``, if given): cancel what runs, drop what was
        computed."""
        if registry is not None:
            self._registry = registry
        for job in self._jobs.values():
            job.stop.set()
        self._jobs = {}

    async def close(self) -> None:
        """Cancel every job and wait for their threads to notice."""
        tasks = {job.task for job in self._jobs.values() if job.task is not None}
        for job in self._jobs.values():
            job.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10.0)
        await cancel_and_wait({t for t in tasks if not t.done()})


async def settle(job: Job[T], wait_s: float) -> Job[T]:
    """Wait up to ``wait_s`` for ``job`` to finish (a quick one answers at once)."""
    if job.task is not None and not job.task.done():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(job.task), wait_s)
    return job
