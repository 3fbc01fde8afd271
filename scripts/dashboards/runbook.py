"""The runbook (docs/runbook.md) as a dashboard: one text panel per alert, so that every alert's
``runbook_url`` opens its section under the one base URL that also serves the dashboards.

An alert links ``<base>/d/dcmon-runbook?viewPanel=<id>``: Grafana 10 to 12 open
that panel alone (a numeric id is the legacy form Grafana 11's scenes still accept).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import text
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.text import TextMode

from scripts.dashboards.panels import dashboard

UID = "dcmon-runbook"
RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
URL_PATH = f"/d/{UID}?viewPanel="


@dataclass(frozen=True)
class Section:
    """One ``## `` section of the runbook: its heading and its Markdown body."""

    heading: str
    body: str


def sections(markdown: str) -> list[Section]:
    """The runbook split at its ``## `` headings; the text before the first is "Start here"."""
    found: list[Section] = []
    heading, lines = "Start here", list[str]()
    for line in markdown.splitlines():
        if line.startswith("## "):
            found.append(Section(heading, "\n".join(lines).strip() + "\n"))
            heading, lines = line.removeprefix("## ").strip(), []
        else:
            lines.append(line)
    found.append(Section(heading, "\n".join(lines).strip() + "\n"))
    return found


def panel_ids(markdown: str) -> dict[str, int]:
    """The panel id of each section, by heading (panels are numbered in order from 1)."""
    return {section.heading: number for number, section in enumerate(sections(markdown), 1)}


def runbook_link(alert: str) -> str:
    """The path, below the base URL, of an alert's runbook section."""
    return URL_PATH + str(panel_ids(RUNBOOK.read_text(encoding="utf-8"))[alert])


def runbook() -> model.Dashboard:
    """The runbook dashboard."""
    panels = [
        text.Panel()
        .title(section.heading)
        .content(section.body)
        .mode(TextMode.MARKDOWN)
        .span(24)
        .height(min(30, 4 + section.body.count("\n")))
        for section in sections(RUNBOOK.read_text(encoding="utf-8"))
    ]
    return dashboard(
        UID,
        "dcmon / Runbook",
        "What to do about each dcmon alert (generated from docs/runbook.md).",
        panels,
    )
