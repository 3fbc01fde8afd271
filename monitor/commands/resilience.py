"""``dcmon resilience``: the failures that would hurt most, and the new links that would help.

Asks ``GET /api/v1/resilience`` (or ``/api/v1/resilience/suggestions``) of a running aggregator.
A long computation (k=2 at a thousand centers) answers 202 with its progress: the command polls,
showing the progress on stderr, until the answer is there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from agents.errors import DcmonError
from monitor.commands.api import Endpoint, endpoint, request_json
from monitor.commands.options import add_console_command, wants_json
from monitor.commands.tables import Cell, human_capacity, render_table

POLL_S: Final = 1.0
OPTIONS: Final = {"max_links": "--suggest"}
"""The API parameter this command's option of another name sets (for errors in its words)."""


def register(subparsers: Any) -> None:
    """Add the ``resilience`` subcommand."""
    parser: argparse.ArgumentParser = add_console_command(
        subparsers,
        "resilience",
        help="the single or double failures that would hurt most; --suggest: links that help",
        description=(
            "From the healthy federation (every center live, every link up): the single (--k 1) "
            "or double (--k 2) failures of centers or links that would hurt most, ranked by "
            "centers that would lose the core, then capacity unreachable, then centers that "
            "would lose redundancy. With --suggest N: up to N new links between registered "
            "centers (by great-circle distance) that would fix most. Nothing changes for real."
        ),
    )
    parser.add_argument(
        "--k",
        type=int,
        choices=(1, 2),
        default=1,
        help="1: single failures (default); 2: double failures",
    )
    parser.add_argument(
        "--limit", type=int, default=10, metavar="N", help="show the N worst (default 10)"
    )
    parser.add_argument(
        "--suggest",
        type=int,
        metavar="N",
        help="instead: suggest up to N new links and what each would fix",
    )
    parser.add_argument(
        "--cancel", action="store_true", help="stop the running --k computation and exit"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        metavar="S",
        help="give up waiting after S seconds (default 1800; the computation goes on)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the ranking or the suggestions (or JSON), waiting for them if they are computed."""
    target = endpoint(args)
    if args.cancel:
        answer = request_json(
            target, "/api/v1/resilience", method="DELETE", params={"k": str(args.k)}
        )
        print(f"k={answer.get('k')}: {answer.get('state')} at {_percent(answer.get('progress'))}")
        return 0
    if args.suggest is not None:
        path, params = "/api/v1/resilience/suggestions", {"max_links": str(args.suggest)}
    else:
        path, params = "/api/v1/resilience", {"k": str(args.k), "limit": str(args.limit)}
    answer = _wait(target, path, params, args.timeout)
    if wants_json(args):
        print(json.dumps(answer, indent=2))
    elif args.suggest is not None:
        print(render_suggestions(answer))
    else:
        print(render_ranking(answer))
    return 0


def _percent(value: object) -> str:
    return f"{value * 100:.0f} %" if isinstance(value, int | float) else "?"


def _wait(target: Endpoint, path: str, params: dict[str, str], timeout_s: float) -> Any:
    """Poll ``path`` until its job is done, showing the progress on stderr."""
    deadline = time.monotonic() + timeout_s
    shown = ""
    while True:
        answer = request_json(target, path, params=params, options=OPTIONS)
        if not isinstance(answer, Mapping) or answer.get("state") != "running":
            if shown:
                print(file=sys.stderr)
            return answer
        if time.monotonic() > deadline:
            raise DcmonError(
                f"still computing after {timeout_s:g} s ({_percent(answer.get('progress'))}); "
                "ask again later: the aggregator keeps the answer"
            )
        line = f"computing on the aggregator: {_percent(answer.get('progress'))}"
        if line != shown:
            print("\r" + line, end="", file=sys.stderr, flush=True)
            shown = line
        time.sleep(POLL_S)


def _elements(found: Mapping[str, Any]) -> str:
    return str(found.get("label", ""))


def render_ranking(answer: Mapping[str, Any]) -> str:
    """The ranked failures, worst first, with who would lose what."""
    k = answer.get("k")
    noun = "single failures" if k == 1 else "double failures"
    failures = [f for f in answer.get("failures") or () if isinstance(f, Mapping)]
    evaluated = answer.get("evaluated")
    head = f"Worst {noun} of the healthy federation"
    if isinstance(evaluated, int):
        head += f" ({evaluated:,} evaluated)"
    if not failures:
        return head + ": none would cost anything"
    rows: list[list[Cell]] = []
    for found in failures:
        by_tier = found.get("lost_core_by_tier") or {}
        tiers = ", ".join(f"{tier} {n}" for tier, n in by_tier.items() if n)
        rows.append(
            [
                found.get("rank") if isinstance(found.get("rank"), int) else None,
                _elements(found),
                found.get("lost_core") if isinstance(found.get("lost_core"), int) else None,
                tiers or None,
                human_capacity(found.get("capacity_unreachable") or {}) or None,
                found.get("lost_redundancy")
                if isinstance(found.get("lost_redundancy"), int)
                else None,
            ]
        )
    headers = ["RANK", "FAILURE", "LOSE CORE", "BY TIER", "CAPACITY UNREACHABLE", "LOSE REDUNDANCY"]
    return head + ":\n" + render_table(headers, rows)


def render_suggestions(answer: Mapping[str, Any]) -> str:
    """The suggested links, cheapest useful first, with what each would fix."""
    found = [s for s in answer.get("suggestions") or () if isinstance(s, Mapping)]
    if not found:
        return (
            "No new link would fix anything: no single point of failure, and no double failure "
            "that a link could shrink."
        )
    lines = ["Suggested new links (each assumes the ones above it are built):"]
    for suggestion in found:
        lines.append(
            f"{suggestion.get('rank')}. {suggestion.get('a')} -- {suggestion.get('b')} "
            f"({suggestion.get('distance_km')} km)"
        )
        lines.extend(f"     {line}" for line in _fixes(suggestion.get("fixes") or ()))
    return "\n".join(lines)


def _fixes(fixes: Sequence[Any]) -> list[str]:
    lines: list[str] = []
    freed = [f for f in fixes if isinstance(f, Mapping) and f.get("kind") == "redundancy"]
    if freed:
        by_point = Counter(str(f.get("single_point")) for f in freed)
        points = ", ".join(f"{point} ({n})" for point, n in by_point.most_common())
        lines.append(
            f"frees {len(freed)} center{'s' if len(freed) != 1 else ''} from a single point of "
            f"failure: {points}"
        )
    for fix in fixes:
        if isinstance(fix, Mapping) and fix.get("kind") == "double_failure":
            lines.append(
                f"if {fix.get('failure')} failed: {fix.get('lost_core_before')} -> "
                f"{fix.get('lost_core_after')} centers would lose the core"
            )
    return lines
