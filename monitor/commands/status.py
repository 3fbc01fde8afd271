"""``dcmon status``: every center by status, with why, grouped by incident, from a running
aggregator."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from monitor.commands.api import add_url_argument, endpoint, request_json
from monitor.commands.incidents import severity_rank
from monitor.commands.tables import Cell, render_table
from monitor.status.model import STATUSES

# Worst first: what needs attention comes at the top.
SEVERITY: Final = (
    "down",
    "isolated",
    "unreachable",
    "stale",
    "degraded",
    "unknown",
    "maintenance",
    "connected",
)


def register(subparsers: Any) -> None:
    """Add the ``status`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "status",
        help="show every center's status, with why, from a running aggregator",
        description="Centers by status (worst first) with the reason, from /api/v1/centers.",
    )
    add_url_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    parser.add_argument(
        "--all", action="store_true", help="also list the connected centers one by one"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON); exit 0 whatever the statuses are."""
    target = endpoint(args)
    answer = request_json(target, "/api/v1/centers")
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    centers = answer.get("centers", [])
    incidents: list[dict[str, Any]] = []
    if any(c.get("incidents") for c in centers):
        incidents = request_json(target, "/api/v1/incidents").get("incidents", [])
    print(render_status(centers, show_all=args.all, blind=answer.get("blind"), incidents=incidents))
    return 0


def render_status(
    centers: list[dict[str, Any]],
    *,
    show_all: bool,
    blind: object = False,
    incidents: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The summary line and the table of centers (non-connected ones unless ``show_all``).

    Centers that are part of an open incident are grouped under it (one heading line with its
    summary, worst incident first); the others follow under their own heading.
    """
    counts = Counter(str(c.get("status", "unknown")) for c in centers)
    flagged = sum(1 for c in centers if c.get("connected"))
    share = 100.0 * flagged / len(centers) if centers else 0.0
    parts = [f"{counts[s]} {s}" for s in STATUSES if counts[s]]
    lines = [f"{len(centers)} centers: {', '.join(parts)} — {share:.1f} % connected"]
    if blind:
        lines.append("the aggregator is BLIND (no broker connection): every status is unknown")
    order = {status: i for i, status in enumerate(SEVERITY)}
    shown = [c for c in centers if show_all or c.get("status") != "connected"]
    shown.sort(key=lambda c: (order.get(str(c.get("status")), len(order)), str(c.get("id"))))
    if shown:
        lines.append("")
        lines.extend(_grouped_table(shown, incidents))
    hidden = len(centers) - len(shown)
    if hidden:
        lines.append(f"\n{hidden} connected centers not listed (--all lists them)")
    return "\n".join(lines)


def _grouped_table(
    shown: Sequence[Mapping[str, Any]], incidents: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The table's lines; under incident headings when any shown center is part of one."""
    headers = ["STATUS", "CENTER", "TIER", "REGION", "WHY"]
    groups: dict[str, list[Mapping[str, Any]]] = {}
    loose: list[Mapping[str, Any]] = []
    for center in shown:
        ids = center.get("incidents")
        if isinstance(ids, list) and ids:
            groups.setdefault(str(ids[0]), []).append(center)  # the one its why names
        else:
            loose.append(center)
    if not groups:
        return render_table(headers, [_row(c) for c in shown]).splitlines()
    known = {str(i.get("id")): i for i in incidents}
    ranked = sorted(groups, key=lambda i: severity_rank(known.get(i)))
    members = [c for incident_id in ranked for c in groups[incident_id]] + loose
    table = render_table(headers, [_row(c) for c in members]).splitlines()
    out = ["  " + table[0]]
    rows = iter(table[1:])
    for incident_id in ranked:
        out.append(_heading(incident_id, known.get(incident_id)))
        out.extend("  " + next(rows) for _ in groups[incident_id])
    if loose:
        out.append("not part of an incident:")
        out.extend("  " + row for row in rows)
    return out


def _heading(incident_id: str, incident: Mapping[str, Any] | None) -> str:
    if incident is None:  # resolved between the two requests
        return f"{incident_id}:"
    return (
        f"{incident_id} ({incident.get('severity', '?')}, {incident.get('kind', '?')}): "
        f"{incident.get('summary', '')}"
    )


def _row(center: Mapping[str, Any]) -> list[Cell]:
    return [
        str(center.get("status", "")),
        str(center.get("id", "")),
        str(center.get("tier", "")),
        str(center.get("region", "")),
        str(center.get("why") or ""),
    ]
