"""The running aggregator: ingest, the evaluation loop, metrics and events around the engine.

``Aggregator`` wires the pure status engine to its I/O edges; ``monitor.service.serve`` runs
one with its HTTP app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest

from agents.errors import DcmonError
from agents.lifecycle import cancel_and_wait
from monitor.config import AggregatorConfig
from monitor.registry import Registry
from monitor.service.events import EventLog, concerned_centers, snapshot_events
from monitor.service.exposition import ExpositionCache
from monitor.service.ingest import Ingest
from monitor.service.maintenance import MaintenanceBook, MaintenanceEntry, MaintenanceRequest
from monitor.service.metrics import AggregatorCollector, EvaluationHistogram
from monitor.service.planning import PlanningJobs
from monitor.service.reload import (
    ConfigLoader,
    ReloadOutcome,
    effective_config,
    restart_only_changes,
    topology_loader,
)
from monitor.status.engine import EngineSettings, IncidentJob, StatusEngine
from monitor.status.evidence import CenterRecord
from monitor.status.model import Finding, LinkEvent, Snapshot, StatusEvent
from monitor.status.whatif import Scenario, WhatIf

logger = logging.getLogger(__name__)

DEBOUNCE_S: Final = 0.005
"""Messages arriving within this long of each other are evaluated together."""
DUTY_CYCLE: Final = 0.5
"""At most this share of the event loop's time goes to evaluations: after one that took t, the
next waits at least t x (1 - share) / share, so ingest keeps up (10,000 retained births after a
restart would otherwise each trigger a ~100 ms evaluation, and the loop would barely read)."""
WHATIF_SLOTS: Final = 2
"""What-ifs computed at once (each in a worker thread); more wait their turn."""
WHATIF_COPY_CHUNK: Final = 1000
"""Evidence records copied per turn of the event loop for a what-if (~2 ms)."""
VALUE_REFRESH_S: Final = 1.0
"""Measured values (heartbeat times, RTTs, capacity) reach the snapshot at least this often."""


def dcmon_version() -> str:
    """The installed dcmon version (``unknown`` when run from a source tree)."""
    try:
        return version("dcmon")
    except PackageNotFoundError:
        return "unknown"


class ReloadRefused(DcmonError):
    """A reload found an invalid file: nothing was changed."""


def engine_settings(config: AggregatorConfig) -> EngineSettings:
    """The status engine's settings from the aggregator configuration (its maintenance windows
    come from the ``MaintenanceBook``)."""
    return EngineSettings(
        heartbeat_misses=config.heartbeat_misses,
        default_heartbeat_interval_s=config.default_heartbeat_interval_s,
        probe_fresh_s=config.probe_fresh_s,
        degraded_rtt_s=config.thresholds.degraded_rtt_s,
        degraded_loss_ratio=config.thresholds.degraded_loss_ratio,
        session_skew_s=config.session_skew_s,
        agent_reconnect_cap_s=config.agent_reconnect_cap_s,
        incident_hold_down_s=config.incident_hold_down_s,
        # Incidents are derived in a worker thread (Aggregator._derive_incidents_forever): a
        # thousand failures at once take seconds, which the event loop must not wait for.
        defer_incidents=True,
    )


class Aggregator:
    """One aggregator instance: engine, broker ingest, evaluation loop, events and metrics.

    Args:
        config: validated configuration (the broker address is resolved here).
        registry: the registry of centers and links.
        maintenance: the maintenance windows (a state store's, persisted); in memory if None.
            The config's ``maintenance:`` entries are added to it.
        loader: reads the configuration and registry again for a reload; without one a reload
            re-reads ``config.topology`` only.
    """

    def __init__(
        self,
        config: AggregatorConfig,
        registry: Registry,
        *,
        maintenance: MaintenanceBook | None = None,
        loader: ConfigLoader | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.started_at = time.time()
        self.engine = StatusEngine(registry, engine_settings(config), started_at=self.started_at)
        self.maintenance = maintenance if maintenance is not None else MaintenanceBook()
        """Every declared maintenance window; change it through ``declare_maintenance`` and
        ``end_maintenance`` (they tell the engine)."""
        self.maintenance.adopt_config(config.maintenance, self.started_at)
        self.engine.set_maintenance(self.maintenance.windows())
        self._loader = loader or topology_loader(config)
        self._reload_lock = asyncio.Lock()
        self.last_reload_successful = True
        self.last_reload_success_at = self.started_at
        """When the configuration was last loaded successfully (the start counts)."""
        self.events = EventLog(config.events_buffer)
        self.evaluation_durations = EvaluationHistogram()
        self.evaluations = 0
        self._evaluated_at = 0.0
        self._last_evaluation_s = 0.0
        self.last_evaluation_error: str | None = None
        self._wake = asyncio.Event()
        self._snapshot = self.engine.snapshot
        self.ingest = Ingest(
            config.broker_address(), config.instance, self.engine, on_input=self._wake.set
        )
        """The broker connection; it feeds the engine directly."""
        self.exposition = ExpositionCache(registry, lambda: self._snapshot)
        self.metrics_registry = CollectorRegistry(auto_describe=False)
        AggregatorCollector(self, registry=self.metrics_registry)
        self._version = dcmon_version()
        self._evaluator: asyncio.Task[None] | None = None
        self._deriver: asyncio.Task[None] | None = None
        self._incident_job: IncidentJob | None = None
        self._incident_wake = asyncio.Event()
        self._what_if_slots = asyncio.Semaphore(WHATIF_SLOTS)
        self.planning = PlanningJobs(registry, lambda: self._snapshot)
        """Resilience rankings and link suggestions (worker threads, cached)."""
        self.bound_port: int | None = None
        """The HTTP port actually listened on (after ``serve`` started)."""

    # --- the state others read ---------------------------------------------------------------

    async def what_if(self, imagined: Scenario) -> WhatIf:
        """``imagined``'s outcome from the evidence as it is now (DESIGN §10), computed in a
        worker thread; the live state is never touched.

        Raises:
            ParameterError: ``base: current`` while the monitor is blind.
        """
        async with self._what_if_slots:
            evidence: dict[str, CenterRecord] = {}
            for part in self.engine.copy_evidence(WHATIF_COPY_CHUNK):
                evidence.update(part)
                await asyncio.sleep(0)  # let ingest run between chunks
            job = self.engine.what_if(imagined, time.time(), evidence)
            return await asyncio.to_thread(job)

    @property
    def snapshot(self) -> Snapshot:
        """The latest evaluation."""
        return self._snapshot

    @property
    def instance(self) -> str:
        """This aggregator's id."""
        return self.config.instance

    @property
    def version(self) -> str:
        """dcmon's version."""
        return self._version

    @property
    def broker_connected(self) -> bool:
        """Whether the broker connection is up."""
        return self.ingest.connected

    @property
    def blind(self) -> bool:
        """Whether every status is ``unknown`` for lack of a broker."""
        return self._snapshot.blind

    @property
    def in_grace(self) -> bool:
        """Whether the start-up / reconnect grace period is holding statuses at ``unknown``
        (a center added by a reload waits on its own: that is no grace of the monitor)."""
        return not self._snapshot.blind and self.engine.in_grace

    @property
    def received(self) -> Mapping[str, int]:
        """Messages received, by kind."""
        return self.ingest.counters.received

    @property
    def rejected(self) -> Mapping[str, int]:
        """Messages refused, by reason."""
        return self.ingest.counters.rejected

    @property
    def ready(self) -> bool:
        """Broker connected and the retained picture received (``/readyz``)."""
        return self.ingest.connected and self.ingest.synced

    def health_checks(self) -> list[tuple[str, str | None]]:
        """``(check, error or None)`` for every part that must be alive."""
        evaluator = self._evaluator
        return [
            ("ingest", None if self.ingest.running else "the broker task is not running"),
            (
                "evaluation",
                None
                if evaluator is not None and not evaluator.done()
                else "the evaluation loop is not running",
            ),
            ("engine", self.last_evaluation_error),
        ]

    async def metrics_parts(self) -> list[bytes]:
        """The ``/metrics`` exposition as blobs to send in order: the cached snapshot part, then
        the live counters (not joined: at 10,000 centers that would copy ~25 MB per scrape)."""
        return [*await self.exposition.parts(), generate_latest(self.metrics_registry)]

    async def metrics_text(self) -> bytes:
        """The whole ``/metrics`` exposition in one piece."""
        return b"".join(await self.metrics_parts())

    # --- changes at runtime (DESIGN §11) -------------------------------------------------------

    def declare_maintenance(self, request: MaintenanceRequest) -> MaintenanceEntry:
        """Add a maintenance window; statuses follow at its start and end."""
        entry = self.maintenance.add(request, time.time())
        logger.info(
            "maintenance %s declared by %s for %s %s: %s",
            entry.id,
            entry.author,
            entry.kind,
            "--".join(entry.ids),
            entry.reason,
        )
        self._maintenance_changed()
        return entry

    def end_maintenance(self, entry_id: str) -> MaintenanceEntry | None:
        """End a maintenance window now (None if there is no such window)."""
        entry = self.maintenance.end(entry_id, time.time())
        if entry is not None:
            logger.info("maintenance %s of %s ended", entry.id, "--".join(entry.ids))
            self._maintenance_changed()
        return entry

    def _maintenance_changed(self) -> None:
        self.engine.set_maintenance(self.maintenance.windows())
        self._wake.set()

    async def reload(self) -> ReloadOutcome:
        """Read the configuration and the registry again and apply them (SIGHUP, ``/-/reload``).

        Raises:
            ReloadRefused: a file is invalid; it is logged in one line and nothing changed.
        """
        async with self._reload_lock:
            try:
                config, registry = await asyncio.to_thread(self._loader)
            except DcmonError as exc:
                self.last_reload_successful = False
                logger.error("reload refused, running configuration kept: %s", exc)
                raise ReloadRefused(str(exc)) from exc
            return self.adopt(config, registry)

    def adopt(self, loaded: AggregatorConfig, registry: Registry) -> ReloadOutcome:
        """Apply a validated configuration and registry at once, keeping what is known.

        Centers still registered keep their state; new ones are ``unknown`` and never seen;
        removed ones lose their series with the snapshot this call makes. Keys that need a
        restart keep their running values, with one warning each.
        """
        now = time.time()
        needs_restart = restart_only_changes(self.config, loaded)
        for key in needs_restart:
            logger.warning(
                "reload: %s changed in the configuration but takes effect only after a restart; "
                "still using %r",
                key,
                getattr(self.config, key),
            )
        config = effective_config(self.config, loaded)
        before = set(self.registry.center_ids())
        after = registry.center_ids()
        registry_changed = registry != self.registry
        settings = engine_settings(config)
        settings_changed = settings != engine_settings(self.config)
        if registry_changed or settings_changed:
            self.engine.reload(registry, settings, now)
        if registry_changed:
            self.registry = registry
            self.exposition.reindex(registry)
            self.planning.forget(registry)
        self.config = config
        self.maintenance.adopt_config(config.maintenance, now)
        self.engine.set_maintenance(self.maintenance.windows())
        self.evaluate(now)
        self.last_reload_successful = True
        self.last_reload_success_at = now
        outcome = ReloadOutcome(
            at=now,
            added=tuple(c for c in after if c not in before),
            removed=tuple(sorted(before - set(after))),
            registry_changed=registry_changed,
            settings_changed=settings_changed,
            needs_restart=needs_restart,
        )
        logger.info(
            "reloaded: %d centers (%d added, %d removed), %d links; settings %s",
            len(after),
            len(outcome.added),
            len(outcome.removed),
            len(registry.links),
            "changed" if settings_changed else "unchanged",
        )
        return outcome

    # --- evaluation ---------------------------------------------------------------------------

    def evaluate(self, now: float | None = None) -> Snapshot:
        """Re-evaluate now: new snapshot, events published, metrics re-rendered off the loop."""
        now = time.time() if now is None else now
        started = time.perf_counter()
        try:
            snapshot = self.engine.evaluate(now)
        except Exception as exc:
            logger.exception("status evaluation failed")
            self.last_evaluation_error = f"evaluation failed: {exc!r}"
            return self._snapshot
        self.last_evaluation_error = None
        self._last_evaluation_s = time.perf_counter() - started
        self.evaluation_durations.observe(self._last_evaluation_s)
        self.evaluations += 1
        self._evaluated_at = now
        if snapshot is not self._snapshot:
            self._adopt(snapshot)
        job = self.engine.take_incident_job()
        if job is not None:
            if self._deriver is None:  # not running (a test driving it by hand): inline
                self._apply_incidents(job, job.run())
            else:
                self._incident_job = job
                self._incident_wake.set()
        return self._snapshot

    def _adopt(self, snapshot: Snapshot) -> None:
        """Make ``snapshot`` the current one: publish its events, re-render the metrics."""
        self._snapshot = snapshot
        self._publish(snapshot)
        self.exposition.refresh()

    def _apply_incidents(self, job: IncidentJob, findings: list[Finding]) -> None:
        snapshot = self.engine.apply_incidents(job, findings, time.time())
        if snapshot is not None:
            self._adopt(snapshot)

    async def _derive_incidents_forever(self) -> None:
        """Run the engine's incident derivations in a worker thread, the latest one first."""
        while True:
            await self._incident_wake.wait()
            self._incident_wake.clear()
            job, self._incident_job = self._incident_job, None
            if job is None:
                continue
            try:
                findings = await asyncio.to_thread(job.run)
            except Exception:
                logger.exception("incident derivation failed")
                continue
            self._apply_incidents(job, findings)

    def _publish(self, snapshot: Snapshot) -> None:
        """Put the snapshot's new events in the log and log each once."""
        found = snapshot_events(snapshot)
        if not found:
            return
        for event in self.events.publish(found, concerned_centers(found, snapshot)):
            if isinstance(event, StatusEvent):
                logger.info(
                    "%s: %s -> %s%s",
                    event.center,
                    event.old,
                    event.new,
                    f" ({event.why})" if event.why else "",
                    extra={"center": event.center},
                )
            elif isinstance(event, LinkEvent):
                logger.info(
                    "link %s--%s: %s -> %s%s",
                    event.a,
                    event.b,
                    event.old,
                    event.new,
                    f" ({event.incident})" if event.incident else "",
                )
            else:
                logger.log(
                    logging.DEBUG if event.change == "updated" else logging.INFO,
                    "%s %s (%s, %s): %s",
                    event.incident,
                    event.change,
                    event.severity,
                    event.kind,
                    event.summary,
                    extra={"incident": event.incident},
                )

    async def _evaluate_forever(self) -> None:
        while True:
            deadline = self.engine.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            if not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            await asyncio.sleep(
                max(DEBOUNCE_S, self._last_evaluation_s * (1 - DUTY_CYCLE) / DUTY_CYCLE)
            )
            self._wake.clear()
            now = time.time()
            if self.engine.needs_evaluation(now) or now - self._evaluated_at >= VALUE_REFRESH_S:
                self.evaluate(now)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Aggregator]:
        """Run ingest and the evaluation loop while the context is open."""
        # Blind until the first connection: a broker never reached is no evidence of anything
        # (the grace period starts when it is reached).
        self.engine.broker_lost(time.time())
        self.evaluate()
        self._evaluator = asyncio.create_task(self._evaluate_forever(), name="dcmon-evaluate")
        self._deriver = asyncio.create_task(
            self._derive_incidents_forever(), name="dcmon-incidents"
        )
        try:
            async with self.ingest:
                yield self
        finally:
            await self.planning.close()
            # asyncio.wait_for in Python 3.11 can swallow a cancel: insist until it ends.
            await cancel_and_wait({self._evaluator, self._deriver})
            self._deriver = None
            self.events.close()
            await self.exposition.close()
