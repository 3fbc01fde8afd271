"""Availability reports (DESIGN §11): connected time against the 100 % target, from the store.

The figures come from the time per center per status per UTC day (``status_time``), so a
report covers whole UTC days: ``from`` and ``to`` are widened to midnights, and the part of
today still to come is not counted. "Connected" is the DESIGN's connected flag
(``CONNECTED_STATUSES``); time that lost the core (``LOST_CORE``) is downtime; time in
maintenance and time the monitor could not judge (blind, or ``unknown`` in a grace period) are
shown apart and count neither way, and time nobody observed (the aggregator was not running)
is reported as such. Built in the store's thread (``Store.read``), never on the event loop.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from agents.errors import ParameterError
from monitor.registry import CenterSpec
from monitor.service.store.records import INCIDENT_COLUMNS, incident_of
from monitor.service.store.schema import BLIND, BUCKETS
from monitor.service.store.status_time import DAY_S, day_of
from monitor.status.incidents import LOST_CORE
from monitor.status.model import CONNECTED_STATUSES, Incident

Json = dict[str, Any]

TARGET: Final = 1.0
"""The strategy's target: every center connected all the time."""
MAX_DAYS: Final = 3660
"""The longest period one report may cover."""
WORST_ELEMENTS: Final = 10
PARTS: Final = ("connected", "down", "maintenance", "blind")
"""How a center's observed time divides (seconds of each are reported as ``<part>_s``)."""


def part_of(bucket: str) -> str:
    """Which part of the time a stored bucket counts as (``down`` = lost the core)."""
    if bucket in CONNECTED_STATUSES:
        return "connected"
    if bucket in LOST_CORE:
        return "down"
    if bucket == "maintenance":
        return "maintenance"
    if bucket in ("unknown", BLIND):
        return "blind"
    raise ValueError(f"unknown time bucket {bucket!r}")


def parse_instant(text: str, parameter: str) -> float:
    """Unix seconds (``1764547200``) or ISO-8601 (``2025-12-01``, ``2025-12-01T00:00:00+07:00``;
    UTC when it names no offset) as Unix seconds; ``ParameterError`` otherwise."""
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value) or value < 0:
            raise ParameterError(parameter, f"{text!r} is not a time after 1970")
        return value
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ParameterError(
            parameter,
            f"{text!r} is neither Unix seconds nor an ISO-8601 time like 2025-12-01T00:00:00Z",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class Period:
    """The whole UTC days a report covers, and how much of them has happened."""

    first_day: int
    last_day: int
    requested: tuple[float, float]
    now: float

    @classmethod
    def of(cls, start: float, end: float, now: float) -> Period:
        """The days covering ``[start, end)``; ``ParameterError`` for an empty or huge one."""
        if start > now:
            raise ParameterError("from", f"{_iso(start)} is in the future")
        if end <= start:
            raise ParameterError("to", f"must be after from ({_iso(start)})")
        first, last = day_of(start), day_of(end - 1e-6)
        if last - first + 1 > MAX_DAYS:
            raise ParameterError("to", f"a report covers at most {MAX_DAYS} days")
        return cls(first, last, (start, end), now)

    @property
    def start(self) -> float:
        """Midnight (UTC) starting the first day."""
        return float(self.first_day * DAY_S)

    @property
    def end(self) -> float:
        """Midnight ending the last day, or now if that is sooner."""
        return float(min((self.last_day + 1) * DAY_S, max(self.now, self.start)))

    def observable_s(self, day: int) -> float:
        """How much of ``day`` lies in the period (all of it, or up to now for today)."""
        return max(0.0, min((day + 1) * DAY_S, self.end) - day * DAY_S)


@dataclass(frozen=True, slots=True)
class Scope:
    """The centers a report is about (all, or one tier and/or region)."""

    centers: tuple[CenterSpec, ...]
    tier: str | None = None
    region: str | None = None


def build_report(db: sqlite3.Connection, scope: Scope, period: Period) -> Json:
    """The report of ``scope`` over ``period``, read from the store's connection."""
    wanted = {c.id: c for c in scope.centers}
    days = _status_time(db, period, wanted)
    per_center = {c.id: _Tally() for c in scope.centers}
    daily: dict[int, dict[str, _Tally]] = defaultdict(lambda: defaultdict(_Tally))
    for (center, day), seconds in days.items():
        spec = wanted[center]
        for part, value in seconds.items():
            per_center[center].add(part, value)
            daily[day][spec.tier].add(part, value)
            daily[day]["all"].add(part, value)
    observable = sum(period.observable_s(d) for d in range(period.first_day, period.last_day + 1))
    tiers: dict[str, _Tally] = defaultdict(_Tally)
    regions: dict[str, _Tally] = defaultdict(_Tally)
    overall = _Tally()
    for spec in scope.centers:
        tally = per_center[spec.id]
        tiers[spec.tier].merge(tally)
        regions[spec.region].merge(tally)
        overall.merge(tally)
    count = {"tier": _count(c.tier for c in scope.centers)}
    count["region"] = _count(c.region for c in scope.centers)
    incidents = _incidents(db, period, set(wanted) if scope.tier or scope.region else None)
    return {
        "from": period.start,
        "to": period.end,
        "requested": {"from": period.requested[0], "to": period.requested[1]},
        "generated_at": period.now,
        "days": period.last_day - period.first_day + 1,
        "target": TARGET,
        "filters": {"tier": scope.tier, "region": scope.region},
        "overall": overall.json(observable * len(scope.centers)),
        "tiers": {
            tier: tiers[tier].json(observable * n) for tier, n in sorted(count["tier"].items())
        },
        "regions": {
            region: regions[region].json(observable * n)
            for region, n in sorted(count["region"].items())
        },
        "centers": [
            {
                "center": spec.id,
                "name": spec.name,
                "tier": spec.tier,
                "region": spec.region,
                **per_center[spec.id].json(observable),
            }
            for spec in scope.centers
        ],
        "daily": [
            {
                "day": _iso(day * DAY_S)[:10],
                "start": float(day * DAY_S),
                "ratio": {tier: tally.ratio() for tier, tally in sorted(daily[day].items())},
            }
            for day in range(period.first_day, period.last_day + 1)
            if period.observable_s(day) > 0
        ],
        "incidents": [_incident_json(i, period) for i in incidents],
        "mttr": _mttr(incidents),
        "worst_elements": _worst_elements(incidents, period),
    }


class _Tally:
    """Seconds per part of one center, tier, region or the whole scope."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PARTS, 0.0)

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] += seconds

    def merge(self, other: _Tally) -> None:
        for part, seconds in other.seconds.items():
            self.seconds[part] += seconds

    def ratio(self) -> float | None:
        judged = self.seconds["connected"] + self.seconds["down"]
        return None if judged <= 0 else self.seconds["connected"] / judged

    def json(self, observable_s: float) -> Json:
        ratio = self.ratio()
        observed = sum(self.seconds.values())
        return {
            "connected_ratio": ratio,
            "meets_target": ratio is None or ratio >= TARGET,
            **{f"{part}_s": round(s, 3) for part, s in self.seconds.items()},
            "unobserved_s": round(max(0.0, observable_s - observed), 3),
        }


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for value in values:
        out[value] += 1
    return out


def _status_time(
    db: sqlite3.Connection, period: Period, wanted: Mapping[str, CenterSpec]
) -> dict[tuple[str, int], dict[str, float]]:
    """Seconds per part, by (center, day), for the wanted centers."""
    out: dict[tuple[str, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    rows = db.execute(
        "SELECT c.id, s.day, s.bucket, s.ms FROM status_time AS s "
        "JOIN centers AS c ON c.number = s.center WHERE s.day BETWEEN ? AND ?",
        (period.first_day, period.last_day),
    )
    for center, day, bucket, ms in rows:
        if center in wanted:
            out[(center, int(day))][part_of(BUCKETS[int(bucket)])] += ms / 1000
    return out


def _incidents(db: sqlite3.Connection, period: Period, centers: set[str] | None) -> list[Incident]:
    """Incidents open at some time in the period (concerning ``centers``, if given)."""
    found = [
        incident_of(row)
        for row in db.execute(
            f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE opened_at < ? "
            "AND (resolved_at IS NULL OR resolved_at >= ?) ORDER BY opened_at, number",
            (period.end, period.start),
        )
    ]
    if centers is None:
        return found
    return [
        i
        for i in found
        if centers & {*i.finding.centers, *(e for k in i.finding.links for e in k)}
        or centers & {v.center for v in i.finding.victims}
    ]


def _duration(incident: Incident, now: float) -> float:
    end = incident.resolved_at if incident.resolved_at is not None else now
    return max(0.0, end - incident.opened_at)


def _overlap(incident: Incident, period: Period) -> float:
    end = incident.resolved_at if incident.resolved_at is not None else period.now
    return max(0.0, min(end, period.end) - max(incident.opened_at, period.start))


def _lost_core(incident: Incident) -> int:
    return sum(1 for v in incident.finding.victims if v.status in LOST_CORE)


def _incident_json(incident: Incident, period: Period) -> Json:
    finding = incident.finding
    return {
        "id": incident.id,
        "state": incident.state,
        "kind": finding.kind,
        "severity": finding.severity,
        "tier": finding.tier,
        "summary": finding.summary,
        "elements": [e.label for e in finding.elements],
        "lost_core": _lost_core(incident),
        "opened_at": incident.opened_at,
        "resolved_at": incident.resolved_at,
        "duration_s": round(_duration(incident, period.now), 3),
        "flaps": incident.flaps,
    }


def _mttr(incidents: Sequence[Incident]) -> Json:
    """Mean time to repair of the incidents resolved in the period, per kind and per tier."""
    by: dict[str, dict[str, list[float]]] = {"kind": defaultdict(list), "tier": defaultdict(list)}
    for incident in incidents:
        if incident.resolved_at is None:
            continue
        duration = incident.resolved_at - incident.opened_at
        by["kind"][incident.kind].append(duration)
        by["tier"][incident.finding.tier].append(duration)
    return {
        f"by_{key}": {
            name: {"resolved": len(d), "mttr_s": round(sum(d) / len(d), 3)}
            for name, d in sorted(groups.items())
        }
        for key, groups in by.items()
    }


def _worst_elements(incidents: Sequence[Incident], period: Period) -> list[Json]:
    """The failed elements that cost most center-time without the core in the period: each
    incident's time in the period x its victims that lost the core, shared by its elements."""
    caused: dict[str, float] = defaultdict(float)
    kinds: dict[str, str] = {}
    counted: dict[str, int] = defaultdict(int)
    for incident in incidents:
        elements = incident.finding.elements
        share = _overlap(incident, period) * _lost_core(incident) / max(1, len(elements))
        for element in elements:
            caused[element.label] += share
            kinds[element.label] = element.kind
            counted[element.label] += 1
    ranked = sorted(caused.items(), key=lambda item: (-item[1], item[0]))[:WORST_ELEMENTS]
    return [
        {
            "element": label,
            "kind": kinds[label],
            "incidents": counted[label],
            "center_downtime_s": round(seconds, 3),
        }
        for label, seconds in ranked
    ]


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z")
