"""``dcmon links``: the links that are not up, with their incident, from a running aggregator."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from monitor.commands.api import add_url_argument, endpoint, request_json
from monitor.commands.tables import Cell, render_table
from monitor.status.model import LINK_STATES

ORDER: Final = ("down", "asymmetric", "unknown", "up")
"""Worst first."""


def register(subparsers: Any) -> None:
    """Add the ``links`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "links",
        help="show the links that are not up, with their incident, RTT and loss",
        description=(
            "Links that are not up (down first) with the incident they are part of, RTT and "
            "loss, from /api/v1/links."
        ),
    )
    add_url_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    parser.add_argument("--all", action="store_true", help="also list the links that are up")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON); exit 0 whatever the states are."""
    target = endpoint(args)
    answer = request_json(target, "/api/v1/links")
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    links = answer.get("links", [])
    incidents: list[dict[str, Any]] = []
    if any(link.get("state") == "down" and not link.get("incident") for link in links):
        incidents = request_json(target, "/api/v1/incidents").get("incidents", [])
    print(render_links(links, show_all=args.all, blind=answer.get("blind"), incidents=incidents))
    return 0


def render_links(
    links: Sequence[Mapping[str, Any]],
    *,
    show_all: bool,
    blind: object = False,
    incidents: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The summary line and the table of links (those not up unless ``show_all``).

    A link down because an end is down is no incident's element (the down center explains
    it); it is shown with that center's incident, ``inc-3 (hub-central down)``.
    """
    counts = Counter(str(link.get("state", "unknown")) for link in links)
    parts = [f"{counts[s]} {s}" for s in LINK_STATES if counts[s]]
    lines = [f"{len(links)} links: {', '.join(parts)}"]
    if blind:
        lines.append("the aggregator is BLIND (no broker connection): every state is unknown")
    rank = {state: i for i, state in enumerate(ORDER)}
    shown = [link for link in links if show_all or link.get("state") != "up"]
    shown.sort(key=lambda x: (rank.get(str(x.get("state")), len(rank)), _name(x)))
    down_centers = {
        str(center): str(incident.get("id"))
        for incident in incidents
        if incident.get("kind") != "agent"
        for center in (incident.get("elements") or {}).get("centers", ())
    }
    if shown:
        rows = [_row(link, down_centers) for link in shown]
        headers = ["STATE", "LINK", "INCIDENT", "RTT MS", "LOSS %", "GBPS"]
        lines += ["", render_table(headers, rows)]
    elif links:
        lines.append("every link is up")
    return "\n".join(lines)


def _name(link: Mapping[str, Any]) -> str:
    return f"{link.get('a', '?')}--{link.get('b', '?')}"


def _row(link: Mapping[str, Any], down_centers: Mapping[str, str]) -> list[Cell]:
    rtt, loss, bandwidth = link.get("rtt_s"), link.get("loss_ratio"), link.get("bandwidth_gbps")
    incident = str(link["incident"]) if link.get("incident") else None
    if incident is None and link.get("state") == "down":
        for end in (str(link.get("a")), str(link.get("b"))):
            if end in down_centers:
                incident = f"{down_centers[end]} ({end} down)"
                break
    return [
        str(link.get("state", "")),
        _name(link),
        incident,
        rtt * 1000 if isinstance(rtt, int | float) else None,
        loss * 100 if isinstance(loss, int | float) else None,
        bandwidth if isinstance(bandwidth, int | float) else None,
    ]
