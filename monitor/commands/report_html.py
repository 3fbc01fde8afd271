"""An availability report as one offline HTML file: the report's tables and matplotlib charts
drawn as inline SVG (no script, no stylesheet or font from elsewhere, no external fetch).

matplotlib comes with the ``report`` extra (``pip install 'dcmon[aggregator,report]'``); only
this module imports it, and only when an HTML report is asked for.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from agents.errors import DcmonError
from monitor.commands.report_document import headline, sections
from monitor.status.palette import status_colour

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TIER_ORDER: Final = ("national", "regional", "hpc", "provincial", "all")
STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #212529; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #dee2e6; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #f1f3f5; }
td.missed { color: #c92a2a; font-weight: 600; }
figure { margin: 1rem 0; }
figcaption { font-size: 0.9rem; color: #495057; }
"""


def render_html(report: Mapping[str, Any]) -> str:
    """The whole report as a self-contained HTML document."""
    charts = [
        (
            "Connected ratio per UTC day, per tier (the target is 100 %).",
            _svg(_ratio_chart(report)),
        ),
        (
            "Center-hours per region that lost the core, were in maintenance, or that the "
            "monitor could not judge (blind).",
            _svg(_region_chart(report)),
        ),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>dcmon availability report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>dcmon availability report</h1>",
        *(f"<p>{html.escape(line)}</p>" for line in headline(report)),
    ]
    parts += [
        f'<figure class="chart">{svg}<figcaption>{html.escape(caption)}</figcaption></figure>'
        for caption, svg in charts
    ]
    for section in sections(report):
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.note:
            parts.append(f"<p>{html.escape(section.note)}</p>")
        parts.append(_table(section.headers, section.rows) if section.rows else "<p>None.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(text: str) -> str:
    missed = ' class="missed"' if text == "missed" else ""
    return f"<td{missed}>{html.escape(text)}</td>"


def _figure(height: float = 3.2) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise DcmonError(
            "--format html draws its charts with matplotlib: pip install 'dcmon[aggregator,report]'"
        ) from None
    return Figure(figsize=(9.0, height), layout="constrained")


def _ratio_chart(report: Mapping[str, Any]) -> Figure:
    figure = _figure()
    axes = figure.add_subplot()
    days = report["daily"]
    x = [d["day"] for d in days]  # categorical: one point per UTC day
    tiers = sorted(
        {t for d in days for t in d["ratio"]},
        key=lambda t: TIER_ORDER.index(t) if t in TIER_ORDER else len(TIER_ORDER),
    )
    if len(days) == 1:  # one day: a bar per tier says more than a lone point
        ratios = [days[0]["ratio"].get(t) for t in tiers]
        heights = [0.0 if r is None else r * 100 for r in ratios]
        axes.bar(tiers, heights, color=["#212529" if t == "all" else "#4c6ef5" for t in tiers])
        axes.set_xlabel(f"UTC day {days[0]['day']}")
        axes.set_ylim(bottom=max(0.0, min(heights, default=100.0) - 5))
    for tier in tiers if len(days) > 1 else ():
        y = [None if d["ratio"].get(tier) is None else d["ratio"][tier] * 100 for d in days]
        style = {"linewidth": 2.5, "color": "#212529"} if tier == "all" else {"linewidth": 1.5}
        axes.plot(x, [float("nan") if v is None else v for v in y], marker="o", label=tier, **style)
    axes.axhline(100, color=status_colour("connected"), linestyle="--", linewidth=1)
    axes.set_ylabel("connected (%)")
    axes.set_ylim(top=100.5)
    axes.grid(alpha=0.3)
    if len(days) > 1 and tiers:
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    if len(days) > 1:
        figure.autofmt_xdate()
    return figure


def _region_chart(report: Mapping[str, Any]) -> Figure:
    regions = report["regions"]
    names = list(regions)
    figure = _figure(max(2.0, 0.45 * len(names) + 1.0))
    axes = figure.add_subplot()
    left = [0.0] * len(names)
    for part, colour, label in (
        ("down_s", status_colour("down"), "lost the core"),
        ("maintenance_s", status_colour("maintenance"), "maintenance"),
        ("blind_s", status_colour("unknown"), "monitor blind"),
    ):
        hours = [regions[n][part] / 3600 for n in names]
        axes.barh(names, hours, left=left, color=colour, label=label)
        left = [a + b for a, b in zip(left, hours, strict=True)]
    axes.set_xlabel("center-hours")
    axes.invert_yaxis()
    axes.grid(axis="x", alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return figure


def _svg(figure: Figure) -> str:
    """``figure`` as an inline ``<svg>`` element (text kept as text, no metadata links)."""
    from matplotlib import rc_context

    out = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "dcmon"}):
        figure.savefig(
            out,
            format="svg",
            metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
        )
    text = out.getvalue()
    return re.sub(r"^.*?(?=<svg)", "", text, flags=re.DOTALL)
