"""``dcmon``: the aggregator's command line (one module per subcommand, registered here)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from agents.errors import DcmonError

# Each module exposes ``register(subparsers)`` and sets ``func`` on its parser.
COMMAND_MODULES = (
    "monitor.commands.check_config",
    "monitor.commands.aggregator",
    "monitor.simulation.command",
    "monitor.demo.command",
    "monitor.commands.status",
    "monitor.commands.incidents",
    "monitor.commands.report",
    "monitor.commands.links",
    "monitor.commands.capacity",
    "monitor.commands.whatif",
    "monitor.commands.resilience",
    "monitor.commands.fault",
    "monitor.commands.maintenance",
    "monitor.commands.decommission",
)


def build_parser() -> argparse.ArgumentParser:
    """The full ``dcmon`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="dcmon", description="Federated data-center connectivity monitor."
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse flags, configure logging, run the subcommand; errors exit non-zero."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        code: int = args.func(args)
    except DcmonError as exc:
        print(f"dcmon {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
