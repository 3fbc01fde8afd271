"""Incidents as rows of the state store, and back (elements, victims and impact as JSON)."""

from __future__ import annotations

import json
from typing import Any, cast

from monitor.status.model import (
    ElementKind,
    FailedElement,
    Finding,
    Impact,
    Incident,
    IncidentKind,
    IncidentState,
    Severity,
    Status,
    Victim,
)

INCIDENT_COLUMNS = (
    "id, number, state, kind, severity, tier, summary, elements, victims, impact, "
    "opened_at, updated_at, resolved_at, flaps"
)
"""The columns ``incident_row`` fills and ``incident_of`` reads, in order."""


def incident_number(incident_id: str) -> int:
    """``inc-12`` → 12 (0 for an id of another shape)."""
    number = incident_id.removeprefix("inc-")
    return int(number) if number.isdigit() else 0


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def incident_row(incident: Incident) -> tuple[Any, ...]:
    """``incident`` as the values of ``INCIDENT_COLUMNS``."""
    finding = incident.finding
    impact = finding.impact
    return (
        incident.id,
        incident_number(incident.id),
        incident.state,
        finding.kind,
        finding.severity,
        finding.tier,
        finding.summary,
        _json([[e.kind, list(e.ids)] for e in finding.elements]),
        _json([[v.center, v.status, v.tier] for v in finding.victims]),
        _json(
            {
                "victims_by_status": dict(impact.victims_by_status),
                "victims_by_tier": dict(impact.victims_by_tier),
                "capacity_unreachable": dict(impact.capacity_unreachable),
                "capacity_at_risk": dict(impact.capacity_at_risk),
            }
        ),
        incident.opened_at,
        incident.updated_at,
        incident.resolved_at,
        incident.flaps,
    )


def incident_of(row: tuple[Any, ...]) -> Incident:
    """The incident a row of ``INCIDENT_COLUMNS`` holds."""
    (
        incident_id,
        _number,
        state,
        kind,
        severity,
        tier,
        summary,
        elements,
        victims,
        impact,
        opened_at,
        updated_at,
        resolved_at,
        flaps,
    ) = row
    shown = json.loads(impact)
    finding = Finding(
        kind=cast(IncidentKind, kind),
        severity=cast(Severity, severity),
        tier=str(tier),
        summary=str(summary),
        elements=tuple(
            FailedElement(cast(ElementKind, k), tuple(ids)) for k, ids in json.loads(elements)
        ),
        victims=tuple(Victim(c, cast(Status, s), t) for c, s, t in json.loads(victims)),
        impact=Impact(
            victims_by_status=shown["victims_by_status"],
            victims_by_tier=shown["victims_by_tier"],
            capacity_unreachable=shown["capacity_unreachable"],
            capacity_at_risk=shown["capacity_at_risk"],
        ),
    )
    return Incident(
        id=str(incident_id),
        state=cast(IncidentState, state),
        finding=finding,
        opened_at=float(opened_at),
        updated_at=float(updated_at),
        resolved_at=None if resolved_at is None else float(resolved_at),
        flaps=int(flaps),
    )
