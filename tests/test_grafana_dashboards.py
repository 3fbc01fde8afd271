"""Grafana provisioning and dashboards: built from code, complete, wired to provisioned sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.build_dashboards import DASHBOARDS, render
from tests.conftest import REPO
from tests.dashboard_queries import (
    DASHBOARD_DIR,
    dashboard_files,
    load,
    panels,
    prometheus_queries,
    variable_queries,
)

PROVISIONING = REPO / "grafana" / "provisioning"
REQUIRED_PANELS = {
    "federation-overview.json": {"geomap", "nodegraph", "table", "bargauge", "stat"},
    "capacity.json": {"timeseries"},
    "links.json": {"table", "state-timeline"},
    "center-detail.json": {"stat", "state-timeline", "timeseries"},
}


def provisioned_datasources() -> dict[str, dict[str, Any]]:
    """Provisioned datasources by uid."""
    found = {}
    for path in (PROVISIONING / "datasources").glob("*.yml"):
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]:
            found[source["uid"]] = source
    return found


def datasource_refs(node: Any) -> list[dict[str, str]]:
    """Every ``datasource`` reference anywhere in a dashboard."""
    refs = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                refs.append(value)
            else:
                refs.extend(datasource_refs(value))
    elif isinstance(node, list):
        for item in node:
            refs.extend(datasource_refs(item))
    return refs


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_committed_dashboards_are_the_builder_output(name: str) -> None:
    """grafana/dashboards/*.json equals `python scripts/build_dashboards.py` (no hand drift)."""
    committed = (DASHBOARD_DIR / name).read_text(encoding="utf-8")
    assert committed == render(DASHBOARDS[name]), (
        f"run: python scripts/build_dashboards.py ({name})"
    )


def test_every_dashboard_file_comes_from_the_builder() -> None:
    """No stray dashboard file the builder does not know."""
    assert {path.name for path in dashboard_files()} == set(DASHBOARDS)


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda path: path.name)
def test_dashboards_have_the_panels_operations_need(path: Path) -> None:
    """Each dashboard has its panel kinds, unique ids, titles, and fits Grafana's 24-column grid."""
    dashboard = load(path)
    kinds = {panel["type"] for panel in panels(dashboard)}
    assert REQUIRED_PANELS[path.name] <= kinds
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        assert panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_dashboard_uids_are_unique_and_tagged() -> None:
    """Dashboards have distinct uids (links between them use the uid) and the dcmon tag."""
    uids = [load(path)["uid"] for path in dashboard_files()]
    assert len(uids) == len(set(uids))
    assert all("dcmon" in load(path)["tags"] for path in dashboard_files())


def test_every_datasource_a_dashboard_uses_is_provisioned() -> None:
    """Each datasource reference (by uid and type) matches a provisioned datasource."""
    provisioned = provisioned_datasources()
    for path in dashboard_files():
        for ref in datasource_refs(load(path)):
            assert ref["uid"] in provisioned, f"{path.name}: {ref}"
            assert provisioned[ref["uid"]]["type"] == ref["type"]


def test_the_dashboard_provider_points_where_compose_mounts_the_dashboards() -> None:
    """The file provider reads the directory docker-compose mounts grafana/dashboards into."""
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "dcmon.yml").read_text())
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    mounts = compose["services"]["grafana"]["volumes"]
    path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in mounts


def test_every_query_selects_the_dcmon_job_and_every_variable_is_set() -> None:
    """Panel queries select job="dcmon" and leave no template variable unset."""
    queries = prometheus_queries({"center": "hub-north", "resource": "gpus"})
    assert len(queries) > 30
    for query in queries:
        assert 'job="dcmon"' in query.expr, query
    assert variable_queries()


def test_the_center_detail_dashboard_is_templated_by_center() -> None:
    """Center detail has a `center` variable and every one of its queries uses it."""
    dashboard = load(DASHBOARD_DIR / "center-detail.json")
    names = [variable["name"] for variable in dashboard["templating"]["list"]]
    assert names == ["center"]
    for panel in panels(dashboard):
        for target in panel["targets"]:
            assert "$center" in target["expr"], panel["title"]
