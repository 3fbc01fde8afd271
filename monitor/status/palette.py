"""The one colour palette of center statuses and link states.

The status page (as CSS custom properties), the Node Graph JSON of the API and the Grafana
dashboards all read it, so a status has the same colour wherever an operator sees it.

Chosen so that every two statuses stay apart (CIEDE2000 distance of 20 or more, a test checks
it): in particular ``isolated`` is brown, far from the red of ``down``, and ``maintenance`` a dark
teal, far from the green of ``connected``. Pills write each status on its colour with the text
colour below, which reaches WCAG AA contrast (4.5:1) on it.

Colour alone does not tell every status apart for colour-blind viewers (with deuteranopia the
green of ``connected`` and the red of ``down`` come close), so every status but ``connected``
also has a **mark**: a one-character symbol drawn on its map markers and in its pills.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, assert_never

from monitor.status.model import LINK_STATES, STATUSES, LinkState, Status

INK: Final = "#212529"
WHITE: Final = "#ffffff"


def status_colour(status: Status) -> str:
    """The colour of a center status (mypy fails here when a status has none)."""
    match status:
        case "connected":
            return "#37b24d"  # green
        case "degraded":
            return "#fab005"  # amber
        case "isolated":
            return "#7a3e00"  # brown
        case "stale":
            return "#1971c2"  # blue
        case "down":
            return "#e03131"  # red
        case "unreachable":
            return "#862e9c"  # purple
        case "maintenance":
            return "#087f5b"  # teal
        case "unknown":
            return "#868e96"  # grey
        case _:
            assert_never(status)


def status_text_colour(status: Status) -> str:
    """The colour of text written on ``status_colour(status)``: ink on light ones, else white."""
    return INK if status in {"connected", "degraded", "unknown"} else WHITE


def status_mark(status: Status) -> str:
    """The symbol drawn on a status's colour (``connected``, the normal case, has none).

    Distinct for every status, so a status is never told by its colour alone.
    """
    match status:
        case "connected":
            return ""
        case "degraded":
            return "!"  # one failure from losing the core
        case "isolated":
            return "\u2298"  # ⊘ cut off
        case "stale":
            return "~"  # the agent sleeps, the center works
        case "down":
            return "\u00d7"  # multiplication sign: failed
        case "unreachable":
            return "\u25cc"  # ◌ out of sight, behind something that failed
        case "maintenance":
            return "\u2016"  # ‖ paused
        case "unknown":
            return "?"
        case _:
            assert_never(status)


def link_colour(state: LinkState) -> str:
    """The colour of a link state: that of the center status meaning the same, but ``up``.

    ``up`` is a lighter green than ``connected`` so that the many working links on a map stay
    behind the centers drawn over them.
    """
    match state:
        case "up":
            return "#74b816"  # lime
        case "asymmetric":
            return status_colour("degraded")
        case "down":
            return status_colour("down")
        case "unknown":
            return status_colour("unknown")
        case _:
            assert_never(state)


STATUS_COLOURS: Final[Mapping[Status, str]] = MappingProxyType(
    {status: status_colour(status) for status in STATUSES}
)
"""Colour of each center status, in ``STATUSES`` order."""
STATUS_TEXT_COLOURS: Final[Mapping[Status, str]] = MappingProxyType(
    {status: status_text_colour(status) for status in STATUSES}
)
"""Colour of text on each status colour (pills, badges)."""
STATUS_MARKS: Final[Mapping[Status, str]] = MappingProxyType(
    {status: status_mark(status) for status in STATUSES}
)
"""Mark of each center status (map markers, pills), in ``STATUSES`` order."""
LINK_COLOURS: Final[Mapping[LinkState, str]] = MappingProxyType(
    {state: link_colour(state) for state in LINK_STATES}
)
"""Colour of each link state, in ``LINK_STATES`` order."""
