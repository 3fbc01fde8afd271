"""``dcmon fault``: inject a fault into a running ``dcmon demo`` (its simulated federation)."""

from __future__ import annotations

import argparse
import json
from typing import Any, Final

from monitor.commands.api import endpoint, request_json
from monitor.commands.options import add_console_command, wants_json
from monitor.simulation.network import FAULT_ARGUMENTS, FAULT_HELP, FAULT_KINDS

ARGUMENT_HELP: Final = {
    "CENTER": "the center's id (e.g. hub-central)",
    "A": "one end of the link (a center id)",
    "B": "the other end of the link (a center id)",
    "REGION": "the region cut off from the others (e.g. central)",
}


def register(subparsers: Any) -> None:
    """Add the ``fault`` subcommand, with one sub-subcommand per fault kind."""
    parser: argparse.ArgumentParser = add_console_command(
        subparsers,
        "fault",
        help="inject a fault into a running dcmon demo",
        description="Inject a fault into the simulated federation of a running `dcmon demo`. "
        "Options may come before or after the fault (dcmon fault --url X heal).",
    )
    kinds = parser.add_subparsers(dest="fault", required=True, metavar="FAULT")
    for kind in FAULT_KINDS:
        sub = add_console_command(kinds, kind, help=FAULT_HELP[kind], description=FAULT_HELP[kind])
        for name in FAULT_ARGUMENTS[kind]:
            sub.add_argument(name.lower(), metavar=name, help=ARGUMENT_HELP[name])
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
    if wants_json(args):
        print(json.dumps(answer, indent=2))
        return 0
    active = answer.get("active", [])
    print(f"injected: {' '.join([args.fault, *values])}")
    if active:
        print("active faults: " + "; ".join(" ".join([f["fault"], *f["args"]]) for f in active))
    else:
        print("active faults: none")
    return 0
