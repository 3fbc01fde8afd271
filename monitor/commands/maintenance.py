"""``dcmon maintenance add|list|end``: maintenance windows of a running aggregator (DESIGN §11)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from agents.errors import ConfigError
from monitor.commands.api import endpoint, request_json
from monitor.commands.options import add_console_command, wants_json


def register(subparsers: Any) -> None:
    """Add the ``maintenance`` subcommand and its ``add``, ``list`` and ``end`` actions."""
    parser: argparse.ArgumentParser = add_console_command(
        subparsers,
        "maintenance",
        help="declare, list and end maintenance windows",
        description="Maintenance windows of centers and links: a center in one is `maintenance`, "
        "a link in one opens no incident, and neither alerts.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = add_console_command(
        actions, "add", help="declare a window", description="Declare a window."
    )
    subject = add.add_mutually_exclusive_group(required=True)
    subject.add_argument("--center", metavar="ID", help="the center being worked on")
    subject.add_argument("--link", nargs=2, metavar=("A", "B"), help="the link being worked on")
    add.add_argument(
        "--start",
        metavar="TIME",
        help="ISO-8601 with a UTC offset (2025-01-31T22:00:00+07:00), or 'now' (default)",
    )
    add.add_argument("--end", metavar="TIME", required=True, help="ISO-8601 with a UTC offset")
    add.add_argument("--reason", required=True, help="what the work is")
    add.add_argument("--author", help="who declares it (default: the basic-auth --user)")
    listing = add_console_command(actions, "list", help="list windows", description="List windows.")
    listing.add_argument(
        "--state",
        choices=("current", "scheduled", "active", "ended", "all"),
        default="current",
        help="which windows (default current: scheduled and active)",
    )
    end = add_console_command(
        actions, "end", help="end a window now", description="End a window now."
    )
    end.add_argument("id", metavar="ID", help="the window's id (mw-3)")
    for sub in (add, listing, end):
        sub.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Send the action to ``/api/v1/maintenance`` and print the windows."""
    target = endpoint(args)
    if args.action == "add":
        body: dict[str, Any] = {"end": _time(args.end, "--end"), "reason": args.reason}
        if args.start is not None and args.start != "now":
            body["start"] = _time(args.start, "--start")
        if args.center is not None:
            body["center"] = args.center
        else:
            body["link"] = list(args.link)
        if args.author is not None:
            body["author"] = args.author
        answer = request_json(target, "/api/v1/maintenance", method="POST", body=body)
        windows = [answer["window"]]
    elif args.action == "end":
        answer = request_json(target, f"/api/v1/maintenance/{args.id}", method="DELETE")
        windows = [answer["window"]]
    else:
        answer = request_json(target, "/api/v1/maintenance", params={"state": args.state})
        windows = answer["windows"]
    if wants_json(args):
        print(json.dumps(answer, indent=2))
        return 0
    if not windows:
        print("no maintenance windows")
    for window in windows:
        print(describe(window))
    return 0


def _time(text: str, flag: str) -> str:
    """Check ``text`` is an ISO-8601 time with an offset here, to name the flag if not."""
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            flag, "", f"{text!r} is not an ISO-8601 time like 2025-01-31T22:00:00+07:00"
        ) from None
    if parsed.tzinfo is None:
        raise ConfigError(flag, "", f"{text!r} needs a UTC offset, e.g. +07:00 or Z")
    return parsed.isoformat()


def describe(window: dict[str, Any]) -> str:
    """One line per window: id, state, subject, times, author and reason."""
    subject = "--".join(window["ids"])

    def when(seconds: float) -> str:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")

    ended = f", ended {when(window['ended_at'])}" if window.get("ended_at") else ""
    return (
        f"{window['id']}  {window['state']:<9}  {window['kind']} {subject}  "
        f"{when(window['start'])} -> {when(window['end'])}{ended}  "
        f"by {window['author']}: {window['reason']}"
    )
