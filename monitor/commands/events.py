"""``dcmon events``: recent events (center status, link state, incident changes), or, with
``--follow``, the live stream until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from agents.errors import ConfigError
from monitor.commands.api import ApiError, Endpoint, endpoint, open_api, request_json
from monitor.commands.options import add_console_command, wants_json

EVENT_TYPES: Final = ("center", "link", "incident")
STREAM_TIMEOUT_S: Final = 60.0
"""The stream sends a keepalive comment every 15 s: a minute of silence means it is gone."""
RECONNECT_S: Final = 2.0
COLLAPSE_AT: Final = 4
"""This many centers making the same transition at the same moment print as one line."""


def register(subparsers: Any) -> None:
    """Add the ``events`` subcommand."""
    parser: argparse.ArgumentParser = add_console_command(
        subparsers,
        "events",
        help="recent events (status, link, incident changes); --follow streams them live",
        description=(
            "Recent events from /api/v1/events, oldest first: center status transitions, link "
            "state changes and incident changes. With --follow, then every new one as it "
            "happens (/api/v1/events/stream) until Ctrl-C."
        ),
    )
    parser.add_argument(
        "--type", choices=EVENT_TYPES, help="only events of this type (default: all three)"
    )
    parser.add_argument(
        "--center", metavar="ID", help="only events concerning this center (not with --follow)"
    )
    parser.add_argument(
        "--limit", type=int, metavar="N", default=50, help="the last N events (default 50)"
    )
    parser.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new events until Ctrl-C"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the recent events (JSON lines with ``--json``), then follow the stream if asked."""
    target = endpoint(args)
    if args.follow and args.center is not None:
        raise ConfigError("--center", "", "not available with --follow (the stream has it all)")
    params = {"limit": str(args.limit)}
    for key in ("type", "center"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    recent = request_json(target, "/api/v1/events", params=params).get("events") or []
    as_json = wants_json(args)
    if as_json:
        for event in recent:
            print(json.dumps(event), flush=args.follow)
    else:
        for line in render_events(recent):
            print(line, flush=args.follow)
        if not recent and not args.follow:
            print("no recent events")
    if not args.follow:
        return 0
    last_seq = max((e["seq"] for e in recent if isinstance(e.get("seq"), int)), default=None)
    for event in follow(target, last_seq):
        if args.type is not None and event.get("type") != args.type:
            continue
        print(json.dumps(event) if as_json else render_event(event), flush=True)
    return 0


def follow(target: Endpoint, last_seq: int | None) -> Iterator[dict[str, Any]]:
    """Every event from the live stream, forever; after a lost connection it reconnects
    (saying so once on stderr) and catches up from the last event seen."""
    lost = False
    while True:
        headers = {"Accept": "text/event-stream"}
        if last_seq is not None:
            headers["Last-Event-ID"] = str(last_seq)
        try:
            with open_api(
                target, "/api/v1/events/stream", headers=headers, timeout_s=STREAM_TIMEOUT_S
            ) as response:
                if lost:
                    print("dcmon events: the stream is back", file=sys.stderr, flush=True)
                    lost = False
                for event in _server_sent(response):
                    if isinstance(event.get("seq"), int):
                        last_seq = event["seq"]
                    yield event
            problem = "the aggregator ended the stream"
        except (ApiError, OSError) as exc:
            problem = str(exc)
        if not lost:
            print(
                f"dcmon events: {problem}; reconnecting every {RECONNECT_S:g} s (Ctrl-C stops)",
                file=sys.stderr,
                flush=True,
            )
            lost = True
        time.sleep(RECONNECT_S)


def _server_sent(lines: Any) -> Iterator[dict[str, Any]]:
    """The JSON ``data`` of each server-sent event in a byte-line stream (comments skipped)."""
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                decoded = json.loads("\n".join(data))
                if isinstance(decoded, dict):
                    yield decoded
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def render_events(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per event, oldest first; a crowd of centers making the same transition in the
    same evaluation (72 centers unknown -> connected at start-up) is one line."""
    lines: list[str] = []
    i = 0
    while i < len(events):
        event = events[i]
        j = i + 1
        if event.get("type") == "center":
            key = _transition(event)
            while j < len(events) and events[j].get("type") == "center":
                if _transition(events[j]) != key:
                    break
                j += 1
        if j - i >= COLLAPSE_AT:
            lines.append(_crowd(events[i:j]))
        else:
            lines.extend(render_event(e) for e in events[i:j])
        i = j
    return lines


def _transition(event: Mapping[str, Any]) -> tuple[object, object, object]:
    return event.get("at"), event.get("old"), event.get("new")


def _crowd(events: Sequence[Mapping[str, Any]]) -> str:
    first = events[0]
    names = [str(e.get("center")) for e in events]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"{_clock(first.get('at'))}  center    {len(events)} centers "
        f"{first.get('old')} -> {first.get('new')} ({shown})"
    )


def render_event(event: Mapping[str, Any]) -> str:
    """``12:00:03  link      hub-south--ndc-south up -> down (inc-5)`` and the like."""
    kind = str(event.get("type", "?"))
    at = _clock(event.get("at"))
    if kind == "center":
        why = f": {event['why']}" if event.get("why") else ""
        text = f"{event.get('center')} {event.get('old')} -> {event.get('new')}{why}"
    elif kind == "link":
        incident = f" ({event['incident']})" if event.get("incident") else ""
        text = f"{event.get('a')}--{event.get('b')} {event.get('old')} -> {event.get('new')}"
        text += incident
    else:
        text = (
            f"{event.get('incident')} {event.get('change')} "
            f"({event.get('severity')}, {event.get('kind')}): {event.get('summary')}"
        )
    return f"{at}  {kind:<8}  {text}"


def _clock(at: object) -> str:
    if not isinstance(at, int | float):
        return "--:--:--"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
