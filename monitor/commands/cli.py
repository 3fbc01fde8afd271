"""``dcmon``: the aggregator's command line (one module per subcommand, registered here)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Final

from agents.config import LOG_LEVELS
from agents.errors import DcmonError
from agents.lifecycle import stdout_reader_gone

DEFAULT_LOG_LEVEL: Final = "INFO"

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
    "monitor.commands.events",
    "monitor.commands.capacity",
    "monitor.commands.whatif",
    "monitor.commands.resilience",
    "monitor.commands.fault",
    "monitor.commands.maintenance",
    "monitor.commands.decommission",
)
AGGREGATOR_EXTRA_HINT = (
    "the aggregator's dependencies are not installed ({missing}): "
    "pip install 'dcmon[aggregator]' (an agent-only install has just dcmon-agent)"
)


def build_parser() -> argparse.ArgumentParser:
    """The full ``dcmon`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="dcmon", description="Federated data-center connectivity monitor."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    _add_log_level(parser, default=DEFAULT_LOG_LEVEL)
    return parser


def _add_log_level(parser: argparse.ArgumentParser, default: str) -> None:
    """``--log-level`` on ``parser`` and, unset unless given there, on every command below it:
    ``dcmon --log-level DEBUG status`` and ``dcmon status --log-level DEBUG`` both work."""
    parser.add_argument(
        "--log-level",
        default=default,
        choices=LOG_LEVELS,
        help=f"how much to log on stderr (default {DEFAULT_LOG_LEVEL})",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):
                _add_log_level(command, default=argparse.SUPPRESS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse flags, configure logging, run the subcommand; errors exit non-zero.

    A reader that closes stdout early (``dcmon status --json | head``) ends the command quietly
    with status 0; Ctrl-C ends it quietly with 130.
    """
    try:
        parser = build_parser()
    except ModuleNotFoundError as exc:
        print(f"dcmon: {AGGREGATOR_EXTRA_HINT.format(missing=exc.name)}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        stdout_reader_gone()
        return 0
    except DcmonError as exc:
        print(f"dcmon {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
