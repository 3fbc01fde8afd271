"""``dcmon capacity``: the planner's query against a running aggregator."""

from __future__ import annotations

import argparse
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from agents.errors import ConfigError
from agents.protocol import RESOURCES
from monitor.commands.api import endpoint, request_json
from monitor.commands.options import add_console_command, wants_json
from monitor.commands.status import add_place_filters, place_label, place_params
from monitor.commands.tables import Cell, render_table
from monitor.commands.units import human_amount, parse_amount
from monitor.registry import TIERS

Totals = dict[str, dict[str, float]]


def register(subparsers: Any) -> None:
    """Add the ``capacity`` subcommand."""
    parser: argparse.ArgumentParser = add_console_command(
        subparsers,
        "capacity",
        help="available capacity in connected centers; with --resource, the candidates",
        description=(
            "Capacity available in connected centers (by tier), from /api/v1/capacity. With "
            "--resource (and --min, --from, --max-rtt-ms): the centers that have it and are "
            "reachable, with path, hops, path RTT and bottleneck bandwidth, and their total."
        ),
    )
    parser.add_argument(
        "--resource", choices=RESOURCES, help="list the centers that have this resource available"
    )
    parser.add_argument(
        "--min",
        metavar="AMOUNT",
        help="at least this much available: a count for cpu_cores and gpus (8), an amount for "
        "memory_bytes and storage_bytes (100TB, 512GiB, 1.5T)",
    )
    parser.add_argument(
        "--from",
        dest="origin",
        metavar="ID",
        help="the center the work comes from (needed with --resource)",
    )
    parser.add_argument("--max-rtt-ms", type=float, metavar="X", help="path RTT at most X ms")
    add_place_filters(parser, "capacity of centers")
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
    parser.set_defaults(func=run)


def query_params(args: argparse.Namespace) -> dict[str, str | list[str]]:
    """The ``/api/v1/capacity`` query the options ask for (``ConfigError`` naming an option)."""
    params: dict[str, str | list[str]] = {}
    if args.min is not None:
        if args.resource is None:
            raise ConfigError("--min", "", "needs --resource as well")
        params["min"] = str(parse_amount(args.min, args.resource, "--min"))
    for key, value in (
        ("resource", args.resource),
        ("from", args.origin),
        ("max_rtt_ms", args.max_rtt_ms),
    ):
        if value is not None:
            params[key] = f"{value:g}" if isinstance(value, float) else str(value)
    if args.whatif_down:
        params["whatif_down"] = list(args.whatif_down)
    if args.whatif_cut:
        params["whatif_cut"] = [f"{a},{b}" for a, b in args.whatif_cut]
    return params


def run(args: argparse.Namespace) -> int:
    """Query the planner and print tables (or JSON)."""
    target = endpoint(args)
    params = query_params(args)
    place = place_params(args)
    # The aggregator checks --region and --tier (and knows each center's capacity).
    scope = request_json(target, "/api/v1/centers", params=place)["centers"] if place else None
    answer = request_json(target, "/api/v1/capacity", params=params)
    if scope is not None:
        answer = narrowed(answer, scope)
    if wants_json(args):
        print(json.dumps(answer, indent=2))
        return 0
    print(render_capacity(answer, args.resource, scope=place_label(place)))
    return 0


def narrowed(answer: Mapping[str, Any], centers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The planner's answer for ``centers`` only: candidates among them, and totals by tier
    over those of them the aggregator counted (connected, with a fresh capacity report)."""
    ids = {str(c.get("id")) for c in centers}
    counted = set(answer.get("centers") or ()) & ids
    by_tier: dict[str, Totals] = {}
    for center in centers:
        if center.get("id") in counted and isinstance(center.get("capacity"), Mapping):
            tier = by_tier.setdefault(str(center.get("tier")), {})
            _add(tier, center["capacity"])
    overall: Totals = {}
    for totals in by_tier.values():
        _add(overall, totals)
    out = dict(answer)
    out.update(centers=sorted(counted), all=overall, by_tier=by_tier, by_region=None)
    out["by_partition"] = None
    if isinstance(answer.get("candidates"), list):
        out["candidates"] = [c for c in answer["candidates"] if c.get("center") in ids]
    return out


def _add(into: Totals, amounts: Mapping[str, Any]) -> None:
    """Add ``amounts`` to ``into``, resource by resource (every resource listed, as the API's
    totals list them: 0 when nobody reports it)."""
    for resource in RESOURCES:
        sums = into.setdefault(resource, {"total": 0.0, "available": 0.0})
        entry = amounts.get(resource)
        if isinstance(entry, Mapping):
            for key in ("total", "available"):
                value = entry.get(key)
                if isinstance(value, int | float):
                    sums[key] += value


def _amount(resource: str, entry: Any) -> str:
    if not isinstance(entry, Mapping):
        return "-"
    available, total = entry.get("available"), entry.get("total")
    if not isinstance(available, int | float) or not isinstance(total, int | float):
        return "-"
    return f"{human_amount(resource, available)} / {human_amount(resource, total)}"


def render_capacity(answer: Mapping[str, Any], resource: str | None, *, scope: str = "") -> str:
    """Totals by tier (available / total); with ``resource``, the candidates and their total
    instead. ``scope`` says which centers (`` in region central``) when filtered."""
    lines: list[str] = []
    imagined = answer.get("whatif")
    if isinstance(imagined, Mapping):
        failures = [f"down {c}" for c in imagined.get("down") or ()]
        failures += [f"cut {a}--{b}" for a, b in imagined.get("cut") or ()]
        lines.append(f"As if: {', '.join(failures)} (nothing changed for real)")
    candidates = answer.get("candidates")
    if resource is not None and isinstance(candidates, list):
        lines.extend(_candidates(resource, answer.get("query"), candidates, scope))
        return "\n".join(lines)
    by_tier = answer.get("by_tier")
    overall = answer.get("all") or answer.get("overall")
    rows: list[list[Cell]] = []
    if isinstance(by_tier, Mapping):
        order = [t for t in TIERS if t in by_tier] + [t for t in by_tier if t not in TIERS]
        for tier in order:
            totals = by_tier[tier]
            if isinstance(totals, Mapping):
                rows.append([str(tier), *(_amount(r, totals.get(r)) for r in RESOURCES)])
    if isinstance(overall, Mapping):
        rows.append(["all", *(_amount(r, overall.get(r)) for r in RESOURCES)])
    counted = answer.get("centers")
    note = f" ({len(counted)} centers counted)" if isinstance(counted, list) else ""
    lines.append(f"Available / total capacity in connected centers{scope}{note}:")
    headers = ["TIER", "CPU CORES", "GPUS", "MEMORY", "STORAGE"]
    lines.append(render_table(headers, rows) if rows else "none")
    return "\n".join(lines)


def _candidates(resource: str, query: object, candidates: Collection[Any], scope: str) -> list[str]:
    found = [c for c in candidates if isinstance(c, Mapping)]
    asked = _question(resource, query) + scope
    if not found:
        return [f"no reachable connected center{scope} has enough {resource}{asked}"]
    lines = [f"Candidates for {resource}{asked}:"]
    lines.append(
        render_table(
            ["CENTER", "TIER", "AVAILABLE", "HOPS", "PATH RTT MS", "BOTTLENECK GBPS", "PATH"],
            [_candidate_row(resource, c) for c in found],
        )
    )
    available = sum(c["available"] for c in found if isinstance(c.get("available"), int | float))
    total = sum(c["total"] for c in found if isinstance(c.get("total"), int | float))
    noun = "candidate" if len(found) == 1 else "candidates"
    lines.append(
        f"{len(found)} {noun}: {human_amount(resource, available)} {resource} available "
        f"of {human_amount(resource, total)}"
    )
    return lines


def _question(resource: str, query: object) -> str:
    """`` from prov-da-nang, at least 8, path RTT at most 30 ms``."""
    if not isinstance(query, Mapping):
        return ""
    parts = []
    if query.get("from"):
        parts.append(f"from {query['from']}")
    minimum = query.get("min")
    if isinstance(minimum, int | float) and minimum:
        parts.append(f"at least {human_amount(resource, minimum)}")
    rtt = query.get("max_rtt_ms")
    if isinstance(rtt, int | float):
        parts.append(f"path RTT at most {rtt:g} ms")
    return f" ({', '.join(parts)})" if parts else ""


def _candidate_row(resource: str, c: Mapping[str, Any]) -> list[Cell]:
    rtt_ms = c.get("path_rtt_ms")
    if rtt_ms is None and isinstance(c.get("path_rtt_s"), int | float):
        rtt_ms = c["path_rtt_s"] * 1000
    bottleneck = c.get("bottleneck_gbps", c.get("bottleneck_bandwidth_gbps"))
    path = c.get("path")
    available = c.get("available")
    return [
        str(c.get("center", "")),
        str(c.get("tier", "")) or None,
        human_amount(resource, available) if isinstance(available, int | float) else None,
        c.get("hops") if isinstance(c.get("hops"), int) else None,
        round(rtt_ms, 2) if isinstance(rtt_ms, int | float) else None,
        bottleneck if isinstance(bottleneck, int | float) else None,
        " > ".join(path) if isinstance(path, list) else None,
    ]
