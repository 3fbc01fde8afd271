"""``dcmon fault``: inject a fault into a running ``dcmon demo`` (its simulated federation)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from monitor.commands.api import add_url_argument, endpoint, request_json
from monitor.simulation.network import FAULT_ARGUMENTS, FAULT_HELP, FAULT_KINDS


def register(subparsers: Any) -> None:
    """Add the ``fault`` subcommand, with one sub-subcommand per fault kind."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "fault",
        help="inject a fault into a running dcmon demo",
        description="Inject a fault into the simulated federation of a running `dcmon demo`.",
    )
    kinds = parser.add_subparsers(dest="fault", required=True, metavar="FAULT")
    for kind in FAULT_KINDS:
        sub = kinds.add_parser(kind, help=FAULT_HELP[kind], description=FAULT_HELP[kind])
        for name in FAULT_ARGUMENTS[kind]:
            sub.add_argument(name.lower(), metavar=name)
        add_url_argument(sub)
        sub.add_argument("--json", action="store_true", help="print the API's JSON answer")
        sub.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Send the fault to ``/api/v1/demo/faults`` and print the active faults."""
    values = [getattr(args, name.lower()) for name in FAULT_ARGUMENTS[args.fault]]
    answer = request_json(
        endpoint(args),
        "/api/v1/demo/faults",
        method="POST",
        body={"fault": args.fault, "args": values},
    )
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    active = answer.get("active", [])
    print(f"injected: {' '.join([args.fault, *values])}")
    if active:
        print("active faults: " + "; ".join(" ".join([f["fault"], *f["args"]]) for f in active))
    else:
        print("active faults: none")
    return 0
