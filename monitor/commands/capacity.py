"""``dcmon capacity``: the planner's query against a running aggregator."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from agents.protocol import RESOURCES
from monitor.commands.api import add_url_argument, endpoint, request_json
from monitor.commands.tables import human_amount, render_table


def register(subparsers: Any) -> None:
    """Add the ``capacity`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "capacity",
        help="available capacity in connected centers; with --resource, the candidates",
        description=(
            "Capacity available in connected centers (by tier), from /api/v1/capacity. With "
            "--resource (and --min, --from, --max-rtt-ms): the centers that have it and are "
            "reachable, with path, hops, path RTT and bottleneck bandwidth."
        ),
    )
    add_url_argument(parser)
    parser.add_argument("--resource", choices=RESOURCES)
    parser.add_argument("--min", type=float, metavar="N", help="at least N available")
    parser.add_argument(
        "--from",
        dest="origin",
        metavar="ID",
        help="the center the work comes from (needed with --resource)",
    )
    parser.add_argument("--max-rtt-ms", type=float, metavar="X", help="path RTT at most X ms")
    parser.add_argument(
        "--whatif-down",
        nargs="+",
        action="extend",
        default=[],
        metavar="ID",
        help="answer as if these centers had failed (changes nothing; repeatable)",
    )
    parser.add_argument(
        "--whatif-cut",
        nargs=2,
        action="append",
        default=[],
        metavar=("A", "B"),
        help="answer as if the link A--B were cut (changes nothing; repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Query the planner and print tables (or JSON)."""
    params: dict[str, str | list[str]] = {}
    for key, value in (
        ("resource", args.resource),
        ("min", args.min),
        ("from", args.origin),
        ("max_rtt_ms", args.max_rtt_ms),
    ):
        if value is not None:
            params[key] = f"{value:g}" if isinstance(value, float) else str(value)
    if args.whatif_down:
        params["whatif_down"] = list(args.whatif_down)
    if args.whatif_cut:
        params["whatif_cut"] = [f"{a},{b}" for a, b in args.whatif_cut]
    answer = request_json(endpoint(args), "/api/v1/capacity", params=params)
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    print(render_capacity(answer, args.resource))
    return 0


def _amount(resource: str, entry: Any) -> str:
    if not isinstance(entry, Mapping):
        return "-"
    available, total = entry.get("available"), entry.get("total")
    if not isinstance(available, int | float) or not isinstance(total, int | float):
        return "-"
    return f"{human_amount(resource, available)} / {human_amount(resource, total)}"


def render_capacity(answer: Mapping[str, Any], resource: str | None) -> str:
    """Totals by tier (available / total), then the candidates if the query asked for them."""
    lines: list[str] = []
    imagined = answer.get("whatif")
    if isinstance(imagined, Mapping):
        failures = [f"down {c}" for c in imagined.get("down") or ()]
        failures += [f"cut {a}--{b}" for a, b in imagined.get("cut") or ()]
        lines.append(f"As if: {', '.join(failures)} (nothing changed for real)")
    by_tier = answer.get("by_tier")
    overall = answer.get("all") or answer.get("overall")
    rows: list[list[str | int | float | None]] = []
    if isinstance(by_tier, Mapping):
        for tier, totals in by_tier.items():
            if isinstance(totals, Mapping):
                rows.append([str(tier), *(_amount(r, totals.get(r)) for r in RESOURCES)])
    if isinstance(overall, Mapping):
        rows.append(["all", *(_amount(r, overall.get(r)) for r in RESOURCES)])
    if rows:
        counted = answer.get("centers")
        note = f" ({len(counted)} centers counted)" if isinstance(counted, list) else ""
        lines.append(f"Available / total capacity in connected centers{note}:")
        headers = ["TIER", "CPU CORES", "GPUS", "MEMORY", "STORAGE"]
        lines.append(render_table(headers, rows))
    candidates = answer.get("candidates")
    if resource is not None and isinstance(candidates, list):
        lines.append("")
        if not candidates:
            lines.append(f"no reachable connected center has enough {resource}")
        else:
            lines.append(f"Candidates for {resource}:")
            lines.append(
                render_table(
                    ["CENTER", "AVAILABLE", "HOPS", "PATH RTT MS", "BOTTLENECK GBPS", "PATH"],
                    [_candidate_row(resource, c) for c in candidates if isinstance(c, Mapping)],
                )
            )
    return "\n".join(lines) if lines else json.dumps(answer, indent=2)


def _candidate_row(resource: str, c: Mapping[str, Any]) -> list[str | int | float | None]:
    rtt_ms = c.get("path_rtt_ms")
    if rtt_ms is None and isinstance(c.get("path_rtt_s"), int | float):
        rtt_ms = c["path_rtt_s"] * 1000
    bottleneck = c.get("bottleneck_gbps", c.get("bottleneck_bandwidth_gbps"))
    path = c.get("path")
    available = c.get("available")
    return [
        str(c.get("center", "")),
        human_amount(resource, available) if isinstance(available, int | float) else None,
        c.get("hops") if isinstance(c.get("hops"), int) else None,
        round(rtt_ms, 2) if isinstance(rtt_ms, int | float) else None,
        bottleneck if isinstance(bottleneck, int | float) else None,
        " > ".join(path) if isinstance(path, list) else None,
    ]
