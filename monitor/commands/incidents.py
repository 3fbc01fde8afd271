"""``dcmon incidents``: the open incidents (worst first) and, with ``--all``, the recently
resolved ones, from a running aggregator."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from monitor.commands.api import endpoint, request_json
from monitor.commands.options import add_console_command, wants_json
from monitor.commands.tables import Cell, human_capacity, human_duration, render_table

SEVERITIES: Final = ("critical", "warning", "info")
"""Worst first."""
IMPACT_LINES: Final = (
    ("capacity unreachable", "capacity_unreachable"),
    ("capacity at risk", "capacity_at_risk"),
)


def register(subparsers: Any) -> None:
    """Add the ``incidents`` subcommand."""
    parser: argparse.ArgumentParser = add_console_command(
        subparsers,
        "incidents",
        help="open incidents, worst first: what failed, who suffers, what capacity is cut off",
        description=(
            "Open incidents (one per real problem), worst first, from /api/v1/incidents: id, "
            "severity, kind, age, victims, flaps, summary, capacity unreachable and at risk. With "
            "--all, also the recently resolved ones with how long they lasted and their flaps."
        ),
    )
    parser.add_argument(
        "--all", action="store_true", help="also list the recently resolved incidents"
    )
    parser.add_argument("--severity", choices=SEVERITIES, help="only incidents of this severity")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the tables (or JSON); exit 0 whatever the incidents are."""
    params = {"state": "all" if args.all else "open"}
    if args.severity is not None:
        params["severity"] = args.severity
    answer = request_json(endpoint(args), "/api/v1/incidents", params=params)
    if wants_json(args):
        print(json.dumps(answer, indent=2))
        return 0
    print(render_incidents(answer, show_resolved=args.all))
    return 0


def severity_rank(incident: Mapping[str, Any] | None) -> tuple[int, float]:
    """Sort key: critical first, then the oldest opened (an unknown incident last)."""
    if incident is None:
        return len(SEVERITIES) + 1, 0.0
    severity = incident.get("severity")
    rank = SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
    opened = incident.get("opened_at")
    return rank, float(opened) if isinstance(opened, int | float) else 0.0


def render_incidents(answer: Mapping[str, Any], *, show_resolved: bool) -> str:
    """The open incidents (worst first), then the resolved ones (latest first) if asked.

    Ages are measured on the aggregator's clock (``evaluated_at``), not this machine's.
    """
    now = answer.get("evaluated_at")
    found = [i for i in answer.get("incidents") or () if isinstance(i, Mapping)]
    still_open = sorted((i for i in found if i.get("state") == "open"), key=severity_rank)
    lines = []
    if answer.get("blind"):
        lines.append("the aggregator is BLIND (no broker connection): incidents are frozen")
    if still_open:
        counts = Counter(str(i.get("severity")) for i in still_open)
        tally = ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if counts[s])
        noun = "incident" if len(still_open) == 1 else "incidents"
        lines.append(f"{len(still_open)} open {noun}: {tally}")
        lines.append(_open_table(still_open, now))
    else:
        lines.append("no open incidents")
    if show_resolved:
        resolved = [i for i in found if i.get("state") == "resolved"]
        resolved.sort(key=lambda i: _time(i, "resolved_at") or 0.0, reverse=True)
        lines.append("")
        if resolved:
            lines.append(f"{len(resolved)} recently resolved:")
            lines.append(_resolved_table(resolved, now))
        else:
            lines.append("none resolved recently")
    return "\n".join(lines)


def _open_table(incidents: Sequence[Mapping[str, Any]], now: object) -> str:
    """One row per incident; its capacity impact on lines of its own under the summary."""
    rows: list[list[Cell]] = []
    for incident in incidents:
        victims = incident.get("victims")
        rows.append(
            [
                str(incident.get("id", "")),
                str(incident.get("severity", "")),
                str(incident.get("kind", "")),
                _since(now, _time(incident, "opened_at")),
                len(victims) if isinstance(victims, list) else None,
                _flaps(incident),
                str(incident.get("summary", "")),
            ]
        )
    headers = ["ID", "SEVERITY", "KIND", "AGE", "VICTIMS", "FLAPS", "SUMMARY"]
    table = render_table(headers, rows).splitlines()
    indent = " " * table[0].index("SUMMARY")
    lines = [table[0]]
    for row, incident in zip(table[1:], incidents, strict=True):
        lines.append(row)
        impact = incident.get("impact")
        impact = impact if isinstance(impact, Mapping) else {}
        for label, key in IMPACT_LINES:
            amounts = _capacity(impact.get(key))
            if amounts is not None:
                lines.append(f"{indent}{label}: {amounts}")
    return "\n".join(lines)


def _resolved_table(incidents: Sequence[Mapping[str, Any]], now: object) -> str:
    rows: list[list[Cell]] = []
    for incident in incidents:
        opened, resolved = _time(incident, "opened_at"), _time(incident, "resolved_at")
        lasted = None
        if opened is not None and resolved is not None:
            lasted = human_duration(resolved - opened)
        ago = _since(now, resolved)
        rows.append(
            [
                str(incident.get("id", "")),
                str(incident.get("severity", "")),
                str(incident.get("kind", "")),
                f"{ago} ago" if ago is not None else None,
                lasted,
                _flaps(incident),
                str(incident.get("summary", "")),
            ]
        )
    headers = ["ID", "SEVERITY", "KIND", "RESOLVED", "LASTED", "FLAPS", "SUMMARY"]
    return render_table(headers, rows)


def _time(incident: Mapping[str, Any], key: str) -> float | None:
    value = incident.get(key)
    return float(value) if isinstance(value, int | float) else None


def _since(now: object, then: float | None) -> str | None:
    if not isinstance(now, int | float) or then is None:
        return None
    return human_duration(now - then)


def _capacity(amounts: object) -> str | None:
    return human_capacity(amounts) if isinstance(amounts, Mapping) else None


def _flaps(incident: Mapping[str, Any]) -> int | None:
    flaps = incident.get("flaps")
    return flaps if isinstance(flaps, int) else None
