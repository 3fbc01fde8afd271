"""``dcmon status``: every center by status, with why, from a running aggregator."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any, Final

from monitor.commands.api import add_url_argument, endpoint, request_json
from monitor.commands.tables import render_table
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
    answer = request_json(endpoint(args), "/api/v1/centers")
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    print(render_status(answer.get("centers", []), show_all=args.all, blind=answer.get("blind")))
    return 0


def render_status(centers: list[dict[str, Any]], *, show_all: bool, blind: object = False) -> str:
    """The summary line and the table of centers (non-connected ones unless ``show_all``)."""
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
        rows = [
            [
                str(c.get("status", "")),
                str(c.get("id", "")),
                str(c.get("tier", "")),
                str(c.get("region", "")),
                str(c.get("why") or ""),
            ]
            for c in shown
        ]
        lines += ["", render_table(["STATUS", "CENTER", "TIER", "REGION", "WHY"], rows)]
    hidden = len(centers) - len(shown)
    if hidden:
        lines.append(f"\n{hidden} connected centers not listed (--all lists them)")
    return "\n".join(lines)
