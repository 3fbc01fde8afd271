"""An availability report's sections, from the JSON of ``/api/v1/report``: what the Markdown
and the HTML renderings both show, in the same order and words."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from monitor.commands.tables import human_duration

CENTERS_SHOWN: Final = 50
"""Centers below the target listed (worst first); the others are counted."""
AVAILABILITY_HEADERS: Final = (
    "connected",
    "down",
    "maintenance",
    "monitor blind",
    "not observed",
    "connected ratio",
    "target",
)


@dataclass(frozen=True, slots=True)
class Section:
    """One table of the report, with a sentence saying what it shows."""

    title: str
    note: str
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]


def when(at: float) -> str:
    """``2025-12-01 06:00 UTC``."""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def percent(ratio: float | None) -> str:
    """``99.861 %`` (three decimals: a year's 100 % target misses by minutes), ``—`` if none."""
    return "—" if ratio is None else f"{ratio * 100:.3f} %"


def headline(report: Mapping[str, Any]) -> list[str]:
    """The lines above the tables: period, scope, target, where the figures come from."""
    filters = {k: v for k, v in report["filters"].items() if v}
    scope = ", ".join(f"{k} {v}" for k, v in filters.items()) or "the whole federation"
    store = report["store"]
    lines = [
        f"Period: {when(report['from'])} to {when(report['to'])} "
        f"({report['days']} UTC day{'s' if report['days'] != 1 else ''}), {scope}.",
        f"Target: 100 % of the time connected. Overall: "
        f"{percent(report['overall']['connected_ratio'])}.",
        "Connected = connected, degraded or stale; time in maintenance and time the monitor "
        "was blind are shown apart and not counted as down.",
    ]
    if not store["persistent"]:
        lines.append(
            "Warning: the aggregator keeps no state store (or cannot use it); these figures "
            "cover only its current run."
        )
    return lines


def _availability(row: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        human_duration(row["connected_s"]),
        human_duration(row["down_s"]),
        human_duration(row["maintenance_s"]),
        human_duration(row["blind_s"]),
        human_duration(row["unobserved_s"]),
        percent(row["connected_ratio"]),
        "met" if row["meets_target"] else "missed",
    )


def sections(report: Mapping[str, Any]) -> list[Section]:
    """The report's tables, in order."""
    return [
        Section(
            "Overall",
            "",
            ("scope", *AVAILABILITY_HEADERS),
            [("all centers", *_availability(report["overall"]))],
        ),
        Section(
            "By tier",
            "",
            ("tier", *AVAILABILITY_HEADERS),
            [(tier, *_availability(row)) for tier, row in report["tiers"].items()],
        ),
        Section(
            "By region",
            "",
            ("region", *AVAILABILITY_HEADERS),
            [(region, *_availability(row)) for region, row in report["regions"].items()],
        ),
        _centers_below_target(report["centers"]),
        _incidents(report["incidents"]),
        Section(
            "Mean time to repair",
            "Incidents resolved in the period, by kind and by the highest tier they touched.",
            ("by", "group", "resolved", "MTTR"),
            [
                (by, name, str(row["resolved"]), human_duration(row["mttr_s"]))
                for by, key in (("kind", "by_kind"), ("tier", "by_tier"))
                for name, row in report["mttr"][key].items()
            ],
        ),
        Section(
            "Worst elements",
            "Failed centers and links by the center-time without the core they caused "
            "(time in the period x victims that lost the core, shared among an incident's "
            "elements).",
            ("element", "kind", "incidents", "center-time without the core"),
            [
                (
                    e["element"],
                    e["kind"],
                    str(e["incidents"]),
                    human_duration(e["center_downtime_s"]),
                )
                for e in report["worst_elements"]
            ],
        ),
    ]


def _centers_below_target(centers: Sequence[Mapping[str, Any]]) -> Section:
    below = [c for c in centers if not c["meets_target"]]
    below.sort(key=lambda c: (c["connected_ratio"], c["center"]))
    shown = below[:CENTERS_SHOWN]
    more = len(below) - len(shown)
    note = f"{len(centers) - len(below)} of {len(centers)} centers met the target." + (
        f" {more} more below it are not listed (see the JSON)." if more else ""
    )
    return Section(
        "Centers below the target",
        note,
        ("center", "tier", "region", *AVAILABILITY_HEADERS),
        [(c["center"], c["tier"], c["region"], *_availability(c)) for c in shown],
    )


def _incidents(incidents: Sequence[Mapping[str, Any]]) -> Section:
    return Section(
        "Incidents",
        f"{len(incidents)} incident(s) open at some time in the period.",
        ("id", "severity", "kind", "tier", "opened", "lasted", "lost the core", "summary"),
        [
            (
                i["id"],
                i["severity"],
                i["kind"],
                i["tier"],
                when(i["opened_at"]),
                human_duration(i["duration_s"]) + ("" if i["resolved_at"] else " (open)"),
                str(i["lost_core"]),
                i["summary"],
            )
            for i in incidents
        ],
    )


def markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown (GitHub tables)."""
    lines = ["# dcmon availability report", "", *headline(report)]
    for section in sections(report):
        lines += ["", f"## {section.title}", ""]
        if section.note:
            lines += [section.note, ""]
        if not section.rows:
            lines.append("None.")
            continue
        lines.append("| " + " | ".join(section.headers) + " |")
        lines.append("|" + "---|" * len(section.headers))
        lines.extend(
            "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
            for row in section.rows
        )
    return "\n".join(lines) + "\n"
