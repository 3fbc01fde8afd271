"""``dcmon status``: every center by status, with why, grouped by incident, from a running
aggregator."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from monitor.commands.api import endpoint, request_json
from monitor.commands.incidents import severity_rank
from monitor.commands.options import add_console_command, wants_json
from monitor.commands.tables import Cell, render_table
from monitor.registry import TIERS
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
    parser: argparse.ArgumentParser = add_console_command(
        subparsers,
        "status",
        help="show every center's status, with why, from a running aggregator",
        description=(
            "Centers by status (worst first) with the reason, grouped by incident, and the "
            "count per status and per tier, from /api/v1/centers."
        ),
    )
    parser.add_argument(
        "--all", action="store_true", help="also list the connected centers one by one"
    )
    add_place_filters(parser)
    parser.set_defaults(func=run)


def add_place_filters(parser: argparse.ArgumentParser, what: str = "centers") -> None:
    """``--region`` and ``--tier`` (checked by the aggregator, which knows the valid ones)."""
    parser.add_argument(
        "--region", metavar="REGION", help=f"only {what} in this region (e.g. central)"
    )
    parser.add_argument(
        "--tier",
        metavar="TIER",
        help=f"only {what} of this tier: {', '.join(TIERS)}",
    )


def place_params(args: argparse.Namespace) -> dict[str, str]:
    """The ``region``/``tier`` query of ``add_place_filters``' options (empty when none)."""
    return {k: v for k in ("region", "tier") if (v := getattr(args, k, None)) is not None}


def place_label(params: Mapping[str, str]) -> str:
    """`` in region central, tier provincial`` (empty without filters)."""
    parts = [f"{key} {value}" for key, value in params.items()]
    return f" in {', '.join(parts)}" if parts else ""


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON); exit 0 whatever the statuses are."""
    target = endpoint(args)
    params = place_params(args)
    answer = request_json(target, "/api/v1/centers", params=params)
    if wants_json(args):
        print(json.dumps(answer, indent=2))
        return 0
    centers = answer.get("centers", [])
    incidents: list[dict[str, Any]] = []
    if any(c.get("incidents") for c in centers):
        incidents = request_json(target, "/api/v1/incidents").get("incidents", [])
    print(
        render_status(
            centers,
            show_all=args.all,
            blind=answer.get("blind"),
            incidents=incidents,
            scope=place_label(params),
        )
    )
    return 0


def render_status(
    centers: list[dict[str, Any]],
    *,
    show_all: bool,
    blind: object = False,
    incidents: Sequence[Mapping[str, Any]] = (),
    scope: str = "",
) -> str:
    """The summary line, the count per tier, and the table of centers (non-connected ones
    unless ``show_all``).

    Centers that are part of an open incident are grouped under it (one heading line with its
    summary, worst incident first); the others follow under their own heading. ``scope`` says
    which centers these are (`` in region central``) when filtered.
    """
    if not centers:
        return f"no centers{scope}"
    counts = Counter(str(c.get("status", "unknown")) for c in centers)
    flagged = sum(1 for c in centers if c.get("connected"))
    share = 100.0 * flagged / len(centers)
    parts = [f"{counts[s]} {s}" for s in STATUSES if counts[s]]
    lines = [f"{len(centers)} centers{scope}: {', '.join(parts)} — {share:.1f} % connected"]
    lines.append(_tier_totals(centers))
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


def _tier_totals(centers: Sequence[Mapping[str, Any]]) -> str:
    """``by tier: national 3/3, regional 3/4, …`` — connected (flag 1) of registered."""
    registered = Counter(str(c.get("tier")) for c in centers)
    connected = Counter(str(c.get("tier")) for c in centers if c.get("connected"))
    order = [t for t in TIERS if t in registered] + sorted(set(registered) - set(TIERS))
    tally = ", ".join(f"{t} {connected[t]}/{registered[t]}" for t in order)
    return f"connected by tier: {tally}"


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
