"""``dcmon links``: the links that are not up, with their incident, from a running aggregator."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from monitor.commands.api import endpoint, request_json
from monitor.commands.options import add_console_command, wants_json
from monitor.commands.status import add_place_filters, place_label, place_params
from monitor.commands.tables import Cell, render_table
from monitor.status.model import LINK_STATES

ORDER: Final = ("down", "asymmetric", "unknown", "up")
"""Worst first."""


def register(subparsers: Any) -> None:
    """Add the ``links`` subcommand."""
    parser: argparse.ArgumentParser = add_console_command(
        subparsers,
        "links",
        help="show the links that are not up, with their incident, RTT and loss",
        description=(
            "Links that are not up (down first) with the incident they are part of, RTT and "
            "loss, from /api/v1/links. --region and --tier keep the links with an end there."
        ),
    )
    parser.add_argument("--all", action="store_true", help="also list the links that are up")
    parser.add_argument(
        "--state", choices=LINK_STATES, help="only links in this state (implies --all for up)"
    )
    add_place_filters(parser, "links with an end")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON); exit 0 whatever the states are."""
    target = endpoint(args)
    place = place_params(args)
    # The aggregator checks --region and --tier, and says which centers they mean.
    ends = request_json(target, "/api/v1/centers", params=place)["centers"] if place else None
    answer = request_json(
        target, "/api/v1/links", params={"state": args.state} if args.state else None
    )
    links = answer.get("links", [])
    if ends is not None:
        inside = {str(c.get("id")) for c in ends}
        links = [link for link in links if link.get("a") in inside or link.get("b") in inside]
        answer = {**answer, "count": len(links), "links": links}
    if wants_json(args):
        print(json.dumps(answer, indent=2))
        return 0
    incidents: list[dict[str, Any]] = []
    if any(link.get("state") == "down" and not link.get("incident") for link in links):
        incidents = request_json(target, "/api/v1/incidents").get("incidents", [])
    print(
        render_links(
            links,
            show_all=args.all or args.state is not None,
            blind=answer.get("blind"),
            incidents=incidents,
            scope=place_label(place),
        )
    )
    return 0


def render_links(
    links: Sequence[Mapping[str, Any]],
    *,
    show_all: bool,
    blind: object = False,
    incidents: Sequence[Mapping[str, Any]] = (),
    scope: str = "",
) -> str:
    """The summary line and the table of links (those not up unless ``show_all``).

    A link down because an end is down is no incident's element (the down center explains
    it); it is shown with that center's incident, ``inc-3 (hub-central down)``.
    """
    counts = Counter(str(link.get("state", "unknown")) for link in links)
    parts = [f"{counts[s]} {s}" for s in LINK_STATES if counts[s]]
    if not links:
        return f"no links{scope}"
    lines = [f"{len(links)} links{scope}: {', '.join(parts)}"]
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
    else:
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
