"""``dcmon whatif``: what would happen were these centers to fail or links to be cut (DESIGN §10).

Asks ``POST /api/v1/whatif`` of a running aggregator; nothing changes for real.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import Any

from agents.errors import ConfigError
from monitor.commands.api import endpoint, request_json
from monitor.commands.incidents import severity_rank
from monitor.commands.options import add_console_command, wants_json
from monitor.commands.tables import Cell, human_capacity, render_table


def register(subparsers: Any) -> None:
    """Add the ``whatif`` subcommand."""
    parser: argparse.ArgumentParser = add_console_command(
        subparsers,
        "whatif",
        help="what if these centers failed or links were cut? (changes nothing)",
        description=(
            "Ask the aggregator what would happen were these centers to fail and these links to "
            "be cut (or repaired): the statuses that would change and why, the incidents that "
            "would exist, the connected ratio overall and per tier before and after, and the "
            "capacity that would become unreachable. Nothing changes for real."
        ),
    )
    parser.add_argument(
        "--down",
        nargs="+",
        action="extend",
        default=[],
        metavar="ID",
        help="centers that would fail (repeatable)",
    )
    parser.add_argument(
        "--cut",
        nargs=2,
        action="append",
        default=[],
        metavar=("A", "B"),
        help="a link that would be cut (repeatable)",
    )
    parser.add_argument(
        "--repair",
        nargs="+",
        action="append",
        default=[],
        metavar="ID",
        help="a center (one id) or a link (two ids) that would come back (repeatable)",
    )
    parser.add_argument(
        "--base",
        choices=("current", "healthy"),
        default="current",
        help="start from the current state (default) or from the healthy federation: every "
        "center live and every link up",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Ask the what-if and print its outcome (or JSON); exit 0 whatever it predicts."""
    repair: list[str | list[str]] = []
    for item in args.repair:
        if len(item) > 2:
            raise ConfigError("--repair", "", f"give one center or the two ends of a link: {item}")
        repair.append(item[0] if len(item) == 1 else list(item))
    if not (args.down or args.cut or repair):
        raise ConfigError("dcmon whatif", "", "name something: --down ID, --cut A B or --repair")
    body = {"down": args.down, "cut": args.cut, "repair": repair, "base": args.base}
    answer = request_json(endpoint(args), "/api/v1/whatif", method="POST", body=body)
    if wants_json(args):
        print(json.dumps(answer, indent=2))
        return 0
    print(render_whatif(answer))
    return 0


def _question(scenario: Mapping[str, Any]) -> str:
    parts = [f"down {c}" for c in scenario.get("down") or ()]
    parts += [f"cut {a}--{b}" for a, b in scenario.get("cut") or ()]
    for item in scenario.get("repair") or ():
        parts.append(f"repair {item if isinstance(item, str) else '--'.join(item)}")
    base = "the healthy federation" if scenario.get("base") == "healthy" else "the current state"
    return f"What if: {', '.join(parts)} (from {base})"


def _percent(value: object) -> str:
    return f"{value * 100:.1f} %" if isinstance(value, int | float) else "?"


def render_whatif(answer: Mapping[str, Any]) -> str:
    """The question, the connected ratios, the capacity lost, the incidents, the changes."""
    lines = [_question(answer.get("scenario") or {})]
    ratio = answer.get("connected_ratio") or {}
    before, after = ratio.get("before") or {}, ratio.get("after") or {}
    tiers = [t for t in before if t != "all"]
    line = f"connected: {_percent(before.get('all'))} -> {_percent(after.get('all'))}"
    per_tier = [
        f"{t} {_percent(before.get(t))} -> {_percent(after.get(t))}"
        for t in tiers
        if before.get(t) != after.get(t)
    ]
    lines.append(line + (f" ({'; '.join(per_tier)})" if per_tier else ""))
    capacity = answer.get("capacity") or {}
    lost = human_capacity(capacity.get("unreachable") or {})
    lines.append(f"capacity that would become unreachable: {lost or 'none'}")
    regained = human_capacity(capacity.get("regained") or {})
    if regained:
        lines.append(f"capacity that would come back: {regained}")
    incidents = [i for i in answer.get("incidents") or () if isinstance(i, Mapping)]
    lines.append("")
    if incidents:
        fresh = sum(1 for i in incidents if i.get("new"))
        noun = "incident" if len(incidents) == 1 else "incidents"
        lines.append(f"{len(incidents)} {noun} would exist ({fresh} new):")
        rows: list[list[Cell]] = [
            [
                "new" if i.get("new") else "open now",
                str(i.get("severity", "")),
                str(i.get("kind", "")),
                len(i.get("victims") or ()),
                str(i.get("summary", "")),
            ]
            for i in sorted(incidents, key=severity_rank)
        ]
        lines.append(render_table(["", "SEVERITY", "KIND", "VICTIMS", "SUMMARY"], rows))
    else:
        lines.append("no incident would exist")
    lines.append("")
    changes = [c for c in answer.get("changes") or () if isinstance(c, Mapping)]
    lines.extend(_changes(changes))
    return "\n".join(lines)


def _changes(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    if not changes:
        return ["no status would change"]
    rows: list[list[Cell]] = [
        [
            str(c.get("center", "")),
            str(c.get("tier", "")),
            f"{c.get('from')} -> {c.get('to')}",
            str(c.get("why", "")),
        ]
        for c in changes
    ]
    noun = "status" if len(changes) == 1 else "statuses"
    return [
        f"{len(changes)} {noun} would change:",
        render_table(["CENTER", "TIER", "STATUS", "WHY"], rows),
    ]
