"""Synthetic history for state-store tests: snapshots at chosen times, fed to a real Store."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from monitor.status.model import (
    CenterView,
    FailedElement,
    Finding,
    Impact,
    Incident,
    IncidentEvent,
    Snapshot,
    Status,
    StatusEvent,
    Victim,
)

_seq = itertools.count(1)


class History:
    """Builds the snapshots a run would have produced, one change at a time."""

    def __init__(self, statuses: Mapping[str, Status], at: float, *, blind: bool = False) -> None:
        self.statuses = dict(statuses)
        self.blind = blind
        self.generation = 0
        self.open: dict[str, Incident] = {}
        self.resolved: list[Incident] = []
        self.snapshots: list[Snapshot] = [self._snapshot(at)]

    def _snapshot(
        self,
        at: float,
        transitions: Sequence[StatusEvent] = (),
        changes: Sequence[IncidentEvent] = (),
    ) -> Snapshot:
        self.generation += 1
        return Snapshot(
            generation=self.generation,
            evaluated_at=at,
            blind=self.blind,
            centers={
                c: CenterView(c, s, live=s != "down", never_seen=False, why="", root_cause=None)
                for c, s in self.statuses.items()
            },
            links={},
            probes={},
            core=frozenset(),
            partitions=1,
            connected_ratio={},
            status_counts={},
            spof=(),
            transitions=tuple(transitions),
            incidents=dict(self.open),
            resolved_incidents=tuple(self.resolved),
            incident_changes=tuple(changes),
        )

    def change(self, at: float, blind: bool | None = None, **statuses: Status) -> None:
        """Centers change status at ``at`` (``blind`` switches the monitor's blindness)."""
        if blind is not None:
            self.blind = blind
        events = []
        for name, status in statuses.items():
            center = name.replace("_", "-")
            events.append(
                StatusEvent(next(_seq), at, center, self.statuses[center], status, why="")
            )
            self.statuses[center] = status
        self.snapshots.append(self._snapshot(at, events))

    def open_incident(
        self, at: float, number: int, center: str, victims: Sequence[tuple[str, Status]]
    ) -> str:
        """A ``center`` incident opens: ``center`` is down, ``victims`` suffer."""
        finding = Finding(
            kind="center",
            severity="critical",
            tier="provincial",
            summary=f"{center} is down",
            elements=(FailedElement("center", (center,)),),
            victims=tuple(Victim(c, s, "provincial") for c, s in victims),
            impact=Impact({}, {}, {}, {}),
        )
        incident = Incident(f"inc-{number}", "open", finding, opened_at=at, updated_at=at)
        self.open[incident.id] = incident
        self.snapshots.append(self._snapshot(at, changes=[self._event(at, incident, "opened")]))
        return incident.id

    def resolve(self, at: float, incident_id: str) -> None:
        """The incident resolves at ``at``."""
        was = self.open.pop(incident_id)
        done = Incident(
            was.id, "resolved", was.finding, was.opened_at, updated_at=at, resolved_at=at
        )
        self.resolved.append(done)
        self.snapshots.append(self._snapshot(at, changes=[self._event(at, done, "resolved")]))

    @staticmethod
    def _event(at: float, incident: Incident, change: str) -> IncidentEvent:
        assert change in ("opened", "resolved")
        return IncidentEvent(
            next(_seq),
            at,
            incident.id,
            "opened" if change == "opened" else "resolved",
            incident.kind,
            incident.severity,
            incident.summary,
        )
