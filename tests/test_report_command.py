"""``dcmon report`` against a real aggregator and store: Markdown with the hand-computed figures,
an offline HTML file with its charts, JSON, and one-line errors."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from monitor.commands.cli import main
from tests.aggregator_harness import LiveAggregator, aggregator_config, write_small_topology
from tests.services import Mosquitto
from tests.test_reports import DAY, _synthetic_days

pytestmark = pytest.mark.integration

LINKS = re.compile(r"""\b(?:src|href|xlink:href|action|data)\s*=\s*["']?\s*([^"'\s>]*)""", re.I)


async def _report(*args: str) -> int:
    return await asyncio.to_thread(main, ["report", *args])


async def test_the_report_renders_as_markdown_html_and_json(
    mosquitto: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Markdown lists prov-c below the target with its figures; the HTML is one file that
    fetches nothing (no http(s) or protocol-relative src/href, no script) and holds both charts
    as inline SVG with the tiers and regions written in them; the JSON is the API's."""
    store = tmp_path / "state.db"
    d = await _synthetic_days(store)
    config = aggregator_config(
        mosquitto.url, write_small_topology(tmp_path), state_store=str(store)
    )
    with LiveAggregator(config) as live:
        period = ["--url", live.url, "--from", f"{d:.0f}", "--to", f"{d + 2 * DAY:.0f}"]
        assert await _report(*period) == 0
        text = capsys.readouterr().out
        assert "# dcmon availability report" in text
        # Two days: 36 h connected and 6 h down judged; the 6 blind hours count neither way.
        row = "| prov-c | provincial | central | 1d 12h | 6h 00m | 0s | 6h 00m | 0s | 85.714 % |"
        assert row + " missed |" in text
        assert "| national | 3d 12h | 0s | 0s | 12h 00m | 0s | 100.000 % | met |" in text
        assert "| inc-1 | critical | center | provincial |" in text

        page = tmp_path / "report.html"
        assert await _report(*period, "--format", "html", "-o", str(page)) == 0
        html = page.read_text(encoding="utf-8")
        assert html.startswith("<!DOCTYPE html>")
        assert [u for u in LINKS.findall(html) if u.lower().startswith(("http", "//"))] == []
        assert "<script" not in html.lower()
        assert "@import" not in html
        assert html.count("<svg") == 2
        for word in ("provincial", "national", "central", "south", "center-hours", "connected"):
            assert word in html
        assert "85.714 %" in html

        assert await _report(*period, "--format", "json", "--tier", "national") == 0
        answer = json.loads(capsys.readouterr().out)
        assert {c["center"] for c in answer["centers"]} == {"ndc-a", "ndc-b"}


async def test_a_bad_time_is_one_line_naming_the_parameter(
    mosquitto: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--from yesterday`` ends with exit 1 and one line naming the option and the problem."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        assert await _report("--url", live.url, "--from", "yesterday") == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert err[0].startswith("dcmon report: --from: 'yesterday' is neither Unix seconds")
