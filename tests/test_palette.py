"""One status palette: distinguishable colours, readable pills, and every consumer agreeing with it
(the served stylesheet of the status page, the Node Graph JSON, the committed dashboards)."""

from __future__ import annotations

import asyncio
import itertools
import re
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from monitor.registry import parse_registry
from monitor.service.views import nodegraph_json, palette_css
from monitor.status.model import (
    LINK_STATES,
    STATUSES,
    CenterView,
    LinkState,
    LinkView,
    Snapshot,
    Status,
)
from monitor.status.palette import (
    INK,
    LINK_COLOURS,
    STATUS_COLOURS,
    STATUS_MARKS,
    STATUS_TEXT_COLOURS,
    WHITE,
)
from scripts.dashboards.colours import LINK_STATE_CODES, SEVERITY_COLOURS
from tests.aggregator_harness import (
    SMALL_TOPOLOGY,
    LiveAggregator,
    aggregator_config,
    write_small_topology,
)
from tests.colours import COLOUR_BLINDNESS, HEX, contrast, delta_e, seen_with
from tests.conftest import REPO
from tests.dashboard_queries import dashboard_files, load, panels
from tests.services import Mosquitto

STATIC = REPO / "monitor" / "static"
CUSTOM_PROPERTY = re.compile(r"--([a-z-]+):\s*([^;]+);")
CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6}) ?")
VAR = re.compile(r"var\(--((?:status|link)-[a-z-]+)\)")


def palette_properties() -> dict[str, str]:
    """The custom properties the palette stylesheet must define, from monitor.status.palette."""
    expected = {f"status-{s}": c for s, c in STATUS_COLOURS.items()}
    expected.update({f"status-{s}-text": c for s, c in STATUS_TEXT_COLOURS.items()})
    expected.update({f"status-{s}-mark": m for s, m in STATUS_MARKS.items()})
    expected.update({f"link-{s}": c for s, c in LINK_COLOURS.items()})
    return expected


def css_value(text: str) -> str:
    """A custom property's value: a colour as written, a CSS string unquoted and unescaped."""
    if not text.startswith('"'):
        return text
    assert text.endswith('"'), text
    assert text.isascii(), text
    return CSS_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text[1:-1])


def test_every_status_and_link_state_has_a_hex_colour() -> None:
    """Each of the 8 statuses and 4 link states has a `#rrggbb` colour (and text colour)."""
    assert list(STATUS_COLOURS) == list(STATUSES)
    assert list(STATUS_TEXT_COLOURS) == list(STATUSES)
    assert list(LINK_COLOURS) == list(LINK_STATES)
    for colour in [*STATUS_COLOURS.values(), *STATUS_TEXT_COLOURS.values(), *LINK_COLOURS.values()]:
        assert HEX.fullmatch(colour), colour


@pytest.mark.parametrize(
    ("a", "b"), list(itertools.combinations(STATUSES, 2)), ids=lambda status: status
)
def test_no_two_statuses_look_alike(a: Status, b: Status) -> None:
    """Any two statuses are plainly different colours (CIEDE2000 >= 20): isolated is not down."""
    assert delta_e(STATUS_COLOURS[a], STATUS_COLOURS[b]) >= 20


def test_every_status_but_connected_has_a_mark_of_its_own() -> None:
    """Each status other than connected has a one-character mark, no two the same."""
    marks = [STATUS_MARKS[s] for s in STATUSES if s != "connected"]
    assert STATUS_MARKS["connected"] == ""
    assert all(len(mark) == 1 and not mark.isspace() for mark in marks), marks
    assert len(set(marks)) == len(marks)


@pytest.mark.parametrize("deficiency", list(COLOUR_BLINDNESS))
def test_colour_blind_viewers_tell_every_two_statuses_apart(deficiency: str) -> None:
    """Seen with protanopia, deuteranopia or tritanopia (simulated), two statuses whose colours
    come close (CIEDE2000 < 20) still differ by their mark: no status is colour-only."""
    close = []
    for a, b in itertools.combinations(STATUSES, 2):
        seen = delta_e(
            seen_with(deficiency, STATUS_COLOURS[a]), seen_with(deficiency, STATUS_COLOURS[b])
        )
        if seen < 20:
            close.append((a, b))
            assert STATUS_MARKS[a] != STATUS_MARKS[b], (deficiency, a, b, seen)
    assert close, "the simulation finds no close pair: is it applied?"


@pytest.mark.parametrize("status", STATUSES)
def test_a_status_pill_is_readable(status: Status) -> None:
    """The text on a status pill reaches WCAG AA contrast (4.5:1) on its colour."""
    assert contrast(STATUS_COLOURS[status], STATUS_TEXT_COLOURS[status]) >= 4.5


def test_page_stylesheet_and_script_take_every_status_colour_from_the_palette() -> None:
    """style.css and app.js hold no status colour: only var(--status-…)/var(--link-…) it defines."""
    defined = set(palette_properties())
    style = (STATIC / "style.css").read_text(encoding="utf-8")
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    # White and ink are the page's own background and text colours as well.
    hexes = {c.lower() for c in palette_properties().values()} - {WHITE, INK}
    for name, text in (("style.css", style), ("app.js", script)):
        found = {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}\b", text)}
        assert not found & hexes, f"{name} repeats palette colours {found & hexes}"
        assert set(VAR.findall(text)) <= defined, f"{name} uses undefined palette properties"
    assert not re.findall(r"#[0-9a-fA-F]{3,8}\b", script), "app.js colours something itself"
    declared = {name for name, _ in CUSTOM_PROPERTY.findall(style)}
    assert not declared & ({*STATUSES, *defined}), "style.css declares status colours"
    assert defined <= set(VAR.findall(style)), "style.css leaves a status or link state uncoloured"


def _snapshot(
    statuses: Mapping[str, Status], states: Mapping[tuple[str, str], LinkState]
) -> Snapshot:
    centers = {
        cid: CenterView(id=cid, status=s, live=True, never_seen=False, why="", root_cause=None)
        for cid, s in statuses.items()
    }
    links = {key: LinkView(*key, state=state, bandwidth_gbps=10) for key, state in states.items()}
    return Snapshot(
        generation=1,
        evaluated_at=0.0,
        blind=False,
        centers=centers,
        links=links,
        probes={},
        core=frozenset(),
        partitions=1,
        connected_ratio={},
        status_counts={},
        spof=(),
    )


def test_node_graph_colours_centers_and_links_with_the_palette() -> None:
    """Node Graph nodes and edges carry the palette colour of their status or link state."""
    registry = parse_registry(SMALL_TOPOLOGY, "small topology")
    ids = registry.center_ids()
    keys = [link.key for link in registry.links]
    assert len(ids) * 2 == len(STATUSES)
    assert len(keys) == len(LINK_STATES)
    states = dict(zip(keys, LINK_STATES, strict=True))
    for half in (STATUSES[: len(ids)], STATUSES[len(ids) :]):
        snapshot = _snapshot(dict(zip(ids, half, strict=True)), states)
        graph = nodegraph_json(snapshot, registry)
        for node in graph["nodes"]:
            assert node["color"] == STATUS_COLOURS[node["mainStat"]], node["id"]
        for edge in graph["edges"]:
            assert edge["color"] == LINK_COLOURS[edge["mainStat"]], edge["id"]
        assert {node["mainStat"] for node in graph["nodes"]} == set(half)
        assert {edge["mainStat"] for edge in graph["edges"]} == set(LINK_STATES)


def _colour_mappings(node: Any) -> Iterator[dict[str, Any]]:
    """Every value-mapping ``options`` object anywhere in a dashboard."""
    if isinstance(node, dict):
        if node.get("type") == "value" and isinstance(node.get("options"), dict):
            yield node["options"]
        for value in node.values():
            yield from _colour_mappings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _colour_mappings(item)


def test_dashboards_colour_statuses_and_link_states_with_the_palette() -> None:
    """Every status / link-state colour in the committed dashboards is the palette's."""
    status_colours = {str(status): colour for status, colour in STATUS_COLOURS.items()}
    seen_statuses: set[str] = set()
    seen_states: set[str] = set()
    for path in dashboard_files():
        dashboard = load(path)
        for options in _colour_mappings(dashboard):
            for key, mapping in options.items():
                if key in status_colours:
                    assert mapping["color"] == status_colours[key], (path.name, key)
                    seen_statuses.add(key)
                elif key in SEVERITY_COLOURS:  # incident severities, in status colours
                    assert mapping["color"] == SEVERITY_COLOURS[key], (path.name, key)
                    assert mapping["color"] in status_colours.values(), (path.name, key)
                elif key in LINK_COLOURS:  # link states by name (the map's edges)
                    assert mapping["color"] == LINK_COLOURS[key], (path.name, key)  # type: ignore[index]
                    seen_states.add(key)
                else:
                    state = LINK_STATE_CODES[int(key)]
                    assert mapping == {
                        "text": state,
                        "color": LINK_COLOURS[state],
                        "index": int(key),
                    }, (path.name, key)
                    seen_states.add(state)
        for panel in panels(dashboard):
            for override in panel.get("fieldConfig", {}).get("overrides", []):
                name = override["matcher"]["options"]
                for prop in override["properties"]:
                    if prop["id"] == "color" and name in status_colours:
                        assert prop["value"]["fixedColor"] == status_colours[name], path.name
                        seen_statuses.add(name)
    assert seen_statuses == set(STATUSES)
    assert seen_states == set(LINK_STATES)


def _get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.headers, bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def _page_files(base: str) -> dict[str, Any]:
    index = _get(base + "/")
    css = _get(base + "/static/palette.css")
    style = _get(base + "/static/style.css")
    etag = css[1]["ETag"]
    again = _get(base + "/static/palette.css", {"If-None-Match": etag})
    return {"index": index, "css": css, "style": style, "again": again}


@pytest.mark.integration
async def test_the_status_page_is_served_the_palette_as_css(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """GET /static/palette.css: text/css with the palette's custom properties, ETag and 304,
    linked by the page before its own stylesheet."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        got = await asyncio.to_thread(_page_files, live.url)
    status, headers, body = got["css"]
    assert status == 200
    assert headers["Content-Type"] == "text/css; charset=utf-8"
    assert body.decode() == palette_css()
    served = {name: css_value(value) for name, value in CUSTOM_PROPERTY.findall(body.decode())}
    assert served == palette_properties()
    assert headers["ETag"]
    assert got["style"][1]["ETag"]  # the static files are revalidated by ETag too
    assert got["again"][0] == 304
    page = got["index"][2].decode()
    assert 0 < page.index("/static/palette.css") < page.index("/static/style.css")
