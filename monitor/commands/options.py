"""The options of the console commands (those that ask a running aggregator), accepted at any
level of the command line.

``dcmon fault --url X heal`` and ``dcmon fault heal --url X`` mean the same: the options are
added to every parser on the way down (the command, and its sub-command if it has one) with
``default=SUPPRESS``, so a level that does not see an option leaves alone what another level
set. Readers take absent options with ``getattr(args, name, default)`` (``api.endpoint``).
``--log-level`` is added the same way to every command by ``monitor.commands.cli``.
"""

from __future__ import annotations

import argparse
from typing import Any

from monitor.commands.api import DEFAULT_URL, PASSWORD_ENV, URL_ENV


def console_options() -> argparse.ArgumentParser:
    """The options of a command that asks a running aggregator (a parent parser)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help=f"the aggregator (or dcmon demo) to ask (default ${URL_ENV}, else {DEFAULT_URL})",
    )
    parent.add_argument(
        "--user",
        default=argparse.SUPPRESS,
        help=f"basic-auth user (password from ${PASSWORD_ENV} or --password-file)",
    )
    parent.add_argument(
        "--password-file",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="file holding the basic-auth password",
    )
    parent.add_argument(
        "--ca-file",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="CA bundle that verifies an https:// --url",
    )
    parent.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the API's JSON answer instead of tables",
    )
    return parent


def add_console_command(subparsers: Any, name: str, **kwargs: Any) -> Any:
    """Add a (sub)command parser that asks a running aggregator: with the console options
    (``--url``, credentials, ``--json``)."""
    return subparsers.add_parser(name, parents=[console_options()], **kwargs)


def wants_json(args: argparse.Namespace) -> bool:
    """Whether ``--json`` was given at any level."""
    return bool(getattr(args, "json", False))
