"""Grafana provisioning and dashboards: typed code, loadable by Grafana's own SDK models, every
panel a real plugin id, every source provisioned, every variable defined, every query valid."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from grafana_foundation_sdk.cog import plugins as sdk_plugins
from grafana_foundation_sdk.cog import runtime as sdk_runtime
from grafana_foundation_sdk.models import dashboard as sdk_dashboard
from grafana_foundation_sdk.models import prometheus as sdk_prometheus
from prometheus_client import generate_latest

from monitor.registry import parse_registry
from monitor.service.aggregator import Aggregator
from monitor.service.metrics import (
    CENTER_FAMILIES,
    FEDERATION_FAMILIES,
    LINK_FAMILIES,
    PROBE_FAMILIES,
)
from scripts.build_dashboards import write_dashboards
from scripts.dashboards import DASHBOARDS
from scripts.dashboards.sources import INFINITY_TYPE, InfinityQuery, register_infinity
from tests.aggregator_harness import SMALL_TOPOLOGY, aggregator_config
from tests.conftest import REPO
from tests.dashboard_queries import (
    BUILTINS,
    DASHBOARD_DIR,
    EXAMPLE_VALUES,
    dashboard_files,
    datasource_type,
    load,
    panels,
    prometheus_queries,
    substitute,
)
from tests.test_alert_rules import promtool

PROVISIONING = REPO / "grafana" / "provisioning"
OPENAPI = REPO / "monitor" / "openapi.json"
API_PATHS_NOT_YET_IN_OPENAPI: set[str] = set()
"""Paths a dashboard may read before ``openapi.json`` describes them (none now)."""
REQUIRED_PANELS = {
    "federation-overview.json": {"geomap", "nodeGraph", "table", "bargauge", "stat", "timeseries"},
    "capacity.json": {"timeseries", "table", "bargauge", "stat"},
    "links.json": {"table", "state-timeline"},
    "center-detail.json": {"stat", "state-timeline", "timeseries", "table"},
    "runbook.json": {"text"},
}
# Variables Grafana defines itself: time range, interval, and the data-link and field ones.
GRAFANA_VARIABLES = {"__from", "__to", "__range", "__interval", "__rate_interval", "__value"}
VARIABLE_USE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")


def provisioned_datasources() -> dict[str, dict[str, Any]]:
    """Provisioned datasources by uid."""
    found = {}
    for path in (PROVISIONING / "datasources").glob("*.yml"):
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]:
            found[source["uid"]] = source
    return found


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def strings(node: Any) -> Iterator[str]:
    """Every string value anywhere in a JSON document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def infinity_queries(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Infinity query of a dashboard: panel targets and annotation targets."""
    found = [
        target
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        if datasource_type(panel, target) == INFINITY_TYPE
    ]
    found += [
        annotation["target"]
        for annotation in dashboard["annotations"]["list"]
        if annotation["datasource"]["type"] == INFINITY_TYPE
    ]
    return found


def sdk_panel_ids() -> set[str]:
    """The panel plugin ids Grafana's SDK knows (its core panels), plus rows."""
    sdk_plugins.register_default_plugins()
    register_infinity()
    return set(sdk_runtime.Runtime().panelcfg_variants) | {"row"}


def exported_metric_names(tmp_path: Path) -> set[str]:
    """The metric families an aggregator exports: its own collector and the snapshot schema."""
    registry = parse_registry(SMALL_TOPOLOGY, "small")
    aggregator = Aggregator(aggregator_config("mqtt://127.0.0.1:1", tmp_path / "a.yaml"), registry)
    text = generate_latest(aggregator.metrics_registry).decode()
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    schema = (*CENTER_FAMILIES, *LINK_FAMILIES, *PROBE_FAMILIES, *FEDERATION_FAMILIES)
    return names | {family.name for family in schema}


def test_committed_dashboards_are_the_builder_output(tmp_path: Path) -> None:
    """grafana/dashboards/ is exactly what `python -m scripts.build_dashboards` writes now."""
    written = write_dashboards(tmp_path)
    assert {path.name for path in written} == {path.name for path in dashboard_files()}
    for path in written:
        committed = (DASHBOARD_DIR / path.name).read_text(encoding="utf-8")
        assert committed == path.read_text(encoding="utf-8"), (
            f"{path.name} is stale: run python -m scripts.build_dashboards"
        )


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda path: path.name)
def test_every_panel_is_a_grafana_panel_plugin(path: Path) -> None:
    """Loaded back through the SDK's models, every panel type is one of the SDK's panel ids."""
    known = sdk_panel_ids()
    dashboard = sdk_dashboard.Dashboard.from_json(load(path))
    kinds = [panel.type_val for panel in dashboard.panels or []]
    assert kinds
    for kind in kinds:
        assert kind in known, f"{path.name}: no Grafana panel plugin {kind!r}"
    assert REQUIRED_PANELS[path.name] <= set(kinds)


def test_the_panel_id_check_knows_node_graph_by_its_case_sensitive_id() -> None:
    """The SDK's ids are Grafana's: `nodeGraph` exists, the old `nodegraph` does not."""
    known = sdk_panel_ids()
    assert "nodeGraph" in known
    assert "nodegraph" not in known


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda path: path.name)
def test_every_query_loads_back_as_a_typed_query(path: Path) -> None:
    """Through the SDK's models each query is a Prometheus or an Infinity query, none unknown."""
    sdk_plugins.register_default_plugins()
    register_infinity()
    dashboard = sdk_dashboard.Dashboard.from_json(load(path))
    for panel in dashboard.panels or []:
        assert isinstance(panel, sdk_dashboard.Panel)
        for target in panel.targets or []:
            assert isinstance(target, sdk_prometheus.Dataquery | InfinityQuery), panel.title
            assert target.ref_id, panel.title


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda path: path.name)
def test_dashboards_have_unique_ids_titles_and_fit_the_grid(path: Path) -> None:
    """Panels have unique ids, titles, and fit Grafana's 24-column grid without overlapping."""
    dashboard = load(path)
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in panels(dashboard):
        assert panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"{path.name}: {panel['title']} overlaps another panel"
        cells |= mine


def test_dashboard_uids_are_unique_and_tagged() -> None:
    """Dashboards have distinct uids (links between them use the uid) and the dcmon tag."""
    uids = [load(path)["uid"] for path in dashboard_files()]
    assert len(uids) == len(set(uids))
    assert all("dcmon" in load(path)["tags"] for path in dashboard_files())


def test_every_datasource_a_dashboard_uses_is_provisioned() -> None:
    """Each datasource reference (by uid and type) matches a provisioned datasource."""
    provisioned = provisioned_datasources()
    for path in dashboard_files():
        refs = [value for key, value in walk(load(path)) if key == "datasource"]
        assert refs, path.name
        for ref in refs:
            assert ref["uid"] in provisioned, f"{path.name}: {ref}"
            assert provisioned[ref["uid"]]["type"] == ref["type"], f"{path.name}: {ref}"


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda path: path.name)
def test_every_variable_a_dashboard_uses_is_defined(path: Path) -> None:
    """Each $variable in a query, title, URL or link is the dashboard's own or Grafana's."""
    dashboard = load(path)
    defined = {variable["name"] for variable in dashboard["templating"].get("list", [])}
    for text in strings(dashboard):
        for match in VARIABLE_USE.finditer(text):
            name = next(group for group in match.groups() if group)
            assert name in defined | GRAFANA_VARIABLES, f"{path.name}: ${name} in {text!r}"


def test_every_infinity_query_reads_an_api_path_of_the_aggregator() -> None:
    """Infinity URLs are paths of the aggregator's OpenAPI document (or listed as on their way)."""
    paths = set(json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"])
    templated = {re.sub(r"\{[^}]+\}", "{}", path) for path in paths}
    for path in dashboard_files():
        for query in infinity_queries(load(path)):
            url = urlsplit(query["url"]).path
            generic = re.sub(r"\$\{\w+\}", "{}", url)
            assert url in paths | API_PATHS_NOT_YET_IN_OPENAPI or generic in templated, url


def test_every_dashboard_shows_incidents_as_annotations() -> None:
    """Each dashboard with time series annotates them with the incidents API's incidents."""
    for path in dashboard_files():
        names = [annotation["name"] for annotation in load(path)["annotations"]["list"]]
        assert names == ["Incidents"], path.name
        (target,) = [q for q in infinity_queries(load(path)) if "since=" in q["url"]]
        assert {column["text"] for column in target["columns"]} >= {"time", "timeEnd", "text"}


def test_the_prometheus_queries_parse_as_promql(tmp_path: Path) -> None:
    """promtool parses every panel query (as the expression of a recording rule)."""
    queries = prometheus_queries(EXAMPLE_VALUES)
    assert len(queries) > 30
    rules = [
        {"record": f"dcmon:dashboard_query:{number}", "expr": query.expr}
        for number, query in enumerate(queries)
    ]
    rule_file = tmp_path / "dashboard_queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(rule_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_the_promql_check_catches_a_broken_query(tmp_path: Path) -> None:
    """Control: promtool refuses a query with a misplaced operator, as the check above relies on."""
    rule_file = tmp_path / "broken.yml"
    rules = [{"record": "dcmon:broken", "expr": "dcmon_center_up{job='dcmon'} * on (center"}]
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(rule_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def test_every_prometheus_query_selects_the_dcmon_job_and_exported_metrics(tmp_path: Path) -> None:
    """Panel queries select job="dcmon" and read only metric families the aggregator declares."""
    exported = exported_metric_names(tmp_path)
    assert "dcmon_broker_connected" in exported
    for query in prometheus_queries(EXAMPLE_VALUES):
        assert 'job="dcmon"' in query.expr, query
        missing = query.metric_names() - exported
        assert not missing, f"{query.dashboard}: {query.panel}: not exported: {missing}"


def test_the_node_graph_and_map_read_the_topology_frames() -> None:
    """The overview's nodeGraph and geomap panels read the nodes and edges frames of the API."""
    overview = load(DASHBOARD_DIR / "federation-overview.json")
    for kind in ("nodeGraph", "geomap"):
        (panel,) = [p for p in panels(overview) if p["type"] == kind]
        formats = {target["format"] for target in panel["targets"]}
        assert formats == {"node-graph-nodes", "node-graph-edges"}, kind
        assert {target["url"] for target in panel["targets"]} == {
            "/api/v1/topology?format=nodegraph"
        }


def test_the_top_single_failures_table_reads_the_resilience_ranking() -> None:
    """The planners' table reads GET /api/v1/resilience?k=1&limit=10 (root `failures`)."""
    capacity = load(DASHBOARD_DIR / "capacity.json")
    (query,) = [q for q in infinity_queries(capacity) if "resilience" in q["url"]]
    assert query["url"] == "/api/v1/resilience?k=1&limit=10"
    assert query["root_selector"] == "failures"
    assert [column["selector"] for column in query["columns"]] == [
        "rank",
        "label",
        "lost_core",
        "capacity_unreachable.gpus",
        "capacity_unreachable.cpu_cores",
        "lost_redundancy",
    ]


def test_the_dashboard_provider_points_where_compose_mounts_the_dashboards() -> None:
    """The file provider reads the directory docker-compose mounts grafana/dashboards into."""
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "dcmon.yml").read_text())
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    mounts = compose["services"]["grafana"]["volumes"]
    path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in mounts


def test_compose_installs_the_infinity_plugin_the_dashboards_need() -> None:
    """Grafana in compose preinstalls the Infinity datasource plugin."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    environment = compose["services"]["grafana"]["environment"]
    settings = ("GF_INSTALL_PLUGINS", "GF_PLUGINS_PREINSTALL", "GF_PLUGINS_PREINSTALL_SYNC")
    plugins = ",".join(environment.get(setting, "") for setting in settings).split(",")
    assert INFINITY_TYPE in plugins


def test_grafanas_root_url_is_the_base_url_alerts_link_to() -> None:
    """Compose's Grafana serves at the base URL (external label dcmon_url) of every alert link."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    config = yaml.safe_load((REPO / "config/prometheus/prometheus.yml").read_text("utf-8"))
    root = compose["services"]["grafana"]["environment"]["GF_SERVER_ROOT_URL"]
    assert root == config["global"]["external_labels"]["dcmon_url"]


def test_the_center_detail_dashboard_is_templated_by_center() -> None:
    """Center detail has a `center` variable and every one of its queries uses it."""
    dashboard = load(DASHBOARD_DIR / "center-detail.json")
    names = [variable["name"] for variable in dashboard["templating"]["list"]]
    assert names == ["center"]
    for panel in panels(dashboard):
        for target in panel["targets"]:
            assert "center" in json.dumps(target), panel["title"]
    assert substitute("$center", EXAMPLE_VALUES) == "hub-central"
    assert set(BUILTINS) <= {f"${name}" for name in GRAFANA_VARIABLES}


def test_every_dashboard_builder_is_registered() -> None:
    """Each module's dashboard is written (a dashboard built but never listed would not ship)."""
    assert set(DASHBOARDS) == {path.name for path in dashboard_files()}
