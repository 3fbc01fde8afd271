"""``dcmon report``: an availability report from a running aggregator, as Markdown, an offline
HTML file with charts, or the API's JSON."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Final

from agents.errors import ConfigError, DcmonError
from monitor.commands.api import endpoint, request_json
from monitor.commands.options import add_console_command, wants_json
from monitor.commands.report_document import markdown

AGO: Final = re.compile(r"-?(\d+(?:\.\d+)?)([smhdw])")
UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def register(subparsers: Any) -> None:
    """Add the ``report`` subcommand."""
    parser: argparse.ArgumentParser = add_console_command(
        subparsers,
        "report",
        help="availability report: connected time against the 100 %% target, incidents, MTTR",
        description=(
            "Connected-time ratio per center, tier, region and overall over whole UTC days "
            "(maintenance and monitor-blind time shown apart), incidents with durations, MTTR "
            "per kind and tier and the worst elements, from /api/v1/report. Times: Unix "
            "seconds, ISO-8601 (2025-12-01, 2025-12-01T08:00+07:00), 'now', or an age like "
            "7d, 12h, 30m (ago)."
        ),
    )
    parser.add_argument(
        "--from", dest="start", default="1d", metavar="TIME", help="start (default 1d: a day ago)"
    )
    parser.add_argument("--to", dest="end", default="now", metavar="TIME", help="end (now)")
    parser.add_argument("--tier", help="only centers of this tier")
    parser.add_argument("--region", help="only centers of this region")
    parser.add_argument(
        "--format",
        choices=("md", "html", "json"),
        default="md",
        help="Markdown (default), one offline HTML file with charts, or the API's JSON (as --json)",
    )
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here (stdout)")
    parser.set_defaults(func=run)


def instant(text: str, flag: str, now: float) -> str:
    """A time for the API: ``now`` and ages (``7d``, ``-12h``) become Unix seconds; Unix
    seconds and ISO-8601 go as they are (the aggregator checks them)."""
    if text == "now":
        return f"{now:.0f}"
    age = AGO.fullmatch(text)
    if age is not None:
        return f"{now - float(age.group(1)) * UNIT_S[age.group(2)]:.0f}"
    if not text:
        raise ConfigError(flag, "", "needs a time")
    return text


def run(args: argparse.Namespace) -> int:
    """Fetch the report and write it in the asked format."""
    now = time.time()
    params = {"from": instant(args.start, "--from", now), "to": instant(args.end, "--to", now)}
    for name in ("tier", "region"):
        if getattr(args, name):
            params[name] = getattr(args, name)
    report = request_json(endpoint(args), "/api/v1/report", params=params)
    if args.format == "json" or wants_json(args):
        text = json.dumps(report, indent=2) + "\n"
    elif args.format == "html":
        from monitor.commands.report_html import render_html

        text = render_html(report)
    else:
        text = markdown(report)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DcmonError(f"-o {args.output}: cannot write ({exc.strerror or exc})") from exc
    print(f"dcmon report: wrote {args.output}", file=sys.stderr)
    return 0
