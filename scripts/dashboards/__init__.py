"""The dcmon Grafana dashboards as typed code (Grafana's Python SDK, grafana-foundation-sdk).

``python -m scripts.build_dashboards`` writes them to ``grafana/dashboards/``; the committed JSON
is its output and a test fails when the two drift apart. One module per dashboard; the shared
datasources, colours and panels have their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from scripts.dashboards.capacity import capacity
from scripts.dashboards.center import center_detail
from scripts.dashboards.links import links
from scripts.dashboards.overview import overview
from scripts.dashboards.runbook import runbook

DASHBOARDS: Mapping[str, Callable[[], model.Dashboard]] = {
    "federation-overview.json": overview,
    "capacity.json": capacity,
    "links.json": links,
    "center-detail.json": center_detail,
    "runbook.json": runbook,
}
"""Every dashboard, by the file it is written to."""


def render(build: Callable[[], model.Dashboard]) -> str:
    """A dashboard as committed: stable key order, two-space indent, final newline."""
    return json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
