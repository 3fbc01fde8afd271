"""Read the shipped Grafana dashboards: their Prometheus queries, with variables substituted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import REPO

DASHBOARD_DIR = REPO / "grafana" / "dashboards"
# What Grafana would put in for its built-in variables on a 6-hour dashboard.
BUILTINS = {"$__range": "6h", "$__interval": "15s", "$__rate_interval": "1m"}
METRIC_NAME = re.compile(r"\b(dcmon_[a-z0-9_]+)\b")
EXAMPLE_VALUES = {"center": "hub-central", "resource": "gpus"}
"""A value for every dashboard variable, as an operator would pick one."""


@dataclass(frozen=True)
class PanelQuery:
    """One Prometheus query of one panel."""

    dashboard: str
    panel: str
    expr: str
    instant: bool

    def metric_names(self) -> set[str]:
        """The dcmon metric names the query reads."""
        return set(METRIC_NAME.findall(self.expr))


def dashboard_files() -> list[Path]:
    """Every shipped dashboard file."""
    return sorted(DASHBOARD_DIR.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    """One dashboard's JSON model."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def datasource_type(panel: dict[str, Any], target: dict[str, Any]) -> str:
    """The datasource type a query goes to (its own, else its panel's)."""
    source: dict[str, str] = target.get("datasource") or panel.get("datasource") or {}
    return source.get("type", "")


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace Grafana variables (``$name``, ``${name}``) with concrete values."""
    for name, value in {**BUILTINS, **values}.items():
        bare = name.lstrip("$")
        expr = expr.replace("${" + bare + "}", value)
        expr = re.sub(re.escape("$" + bare) + r"\b", value, expr)
    return expr


def prometheus_queries(values: dict[str, str]) -> list[PanelQuery]:
    """Every Prometheus query of every dashboard, with template variables set from ``values``."""
    queries = []
    for path in dashboard_files():
        dashboard = load(path)
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                if datasource_type(panel, target) != "prometheus":
                    continue
                expr = substitute(target["expr"], values)
                assert "$" not in expr, f"{path.name}: {panel['title']}: unset variable in {expr}"
                queries.append(
                    PanelQuery(path.name, panel["title"], expr, bool(target.get("instant")))
                )
    return queries


def variable_queries() -> list[tuple[str, str]]:
    """(dashboard, query) of every query-type template variable."""
    found = []
    for path in dashboard_files():
        for variable in load(path)["templating"].get("list", []):
            if variable["type"] == "query":
                query = variable["query"]
                found.append((path.name, query if isinstance(query, str) else query["query"]))
    return found
