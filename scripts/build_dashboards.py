"""Build the Grafana dashboards (``grafana/dashboards/*.json``) as code.

Usage: ``python scripts/build_dashboards.py [OUTPUT_DIR]`` (default ``grafana/dashboards``), with
dcmon installed (``.venv``): the status colours come from ``monitor.status.palette``.

Plain dictionaries in Grafana's dashboard JSON model (schemaVersion 39, Grafana 10/11); the
committed JSON files are this script's output, and a test fails when they drift apart. Every
PromQL query selects ``job="dcmon"`` (the scrape job of config/prometheus/prometheus.yml) and uses
only metrics the aggregator exports (DESIGN §4 and the incident metrics of §9); the integration
test runs each one against a real Prometheus scraping a real aggregator.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.status.model import LinkState
from monitor.status.palette import LINK_COLOURS, STATUS_COLOURS

Json = dict[str, Any]

PROMETHEUS: Json = {"type": "prometheus", "uid": "dcmon-prometheus"}
API: Json = {"type": "yesoreyeram-infinity-datasource", "uid": "dcmon-api"}
JOB = 'job="dcmon"'
RESOURCES = ("cpu_cores", "gpus", "memory_bytes", "storage_bytes")
# Per-center capacity metric names (DESIGN §4): total and available, by resource.
CENTER_CAPACITY = {
    "cpu_cores": ("dcmon_center_cpu_cores", "dcmon_center_cpu_cores_available"),
    "gpus": ("dcmon_center_gpus", "dcmon_center_gpus_available"),
    "memory_bytes": ("dcmon_center_memory_bytes", "dcmon_center_memory_available_bytes"),
    "storage_bytes": ("dcmon_center_storage_bytes", "dcmon_center_storage_available_bytes"),
}
RESOURCE_UNITS = {"cpu_cores": "short", "gpus": "short", "memory_bytes": "bytes"}
RESOURCE_UNITS["storage_bytes"] = "bytes"

# Incident severities in the colours of what they mean: critical = someone lost the core (down),
# warning = someone lost redundancy (degraded), info = nobody lost anything yet.
SEVERITY_COLOURS = {
    "critical": STATUS_COLOURS["down"],
    "warning": STATUS_COLOURS["degraded"],
    "info": STATUS_COLOURS["unknown"],
}
NOT_CONNECTED = "degraded|isolated|stale|down|unreachable"
# One series per (center, incident), and one without `incident` for a center in none.
CENTER_MEMBERSHIP = (
    f"(dcmon_center_incident{{{JOB}}} or on (job, instance, center) "
    f"max by (job, instance, center) (dcmon_center_info{{{JOB}}}))"
)

# Link states as the numbers the state-timeline panels map back to text and colour.
LINK_STATE_CODES: tuple[LinkState, ...] = ("up", "asymmetric", "down", "unknown")
LINK_STATES = {code: (state, LINK_COLOURS[state]) for code, state in enumerate(LINK_STATE_CODES)}


# --- building blocks ----------------------------------------------------------------------------


def prom(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> Json:
    """A Prometheus query target."""
    target: Json = {
        "datasource": PROMETHEUS,
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
    }
    if table:
        target["format"] = "table"
    return target


def panel(
    kind: str,
    title: str,
    grid: tuple[int, int, int, int],
    targets: list[Json],
    *,
    description: str = "",
    unit: str | None = None,
    options: Json | None = None,
    defaults: Json | None = None,
    overrides: list[Json] | None = None,
    transformations: list[Json] | None = None,
    datasource: Json = PROMETHEUS,
) -> Json:
    """One panel at ``grid`` = (x, y, width, height); refIds are assigned A, B, C..."""
    x, y, w, h = grid
    field_defaults: Json = dict(defaults or {})
    if unit is not None:
        field_defaults["unit"] = unit
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": datasource,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": field_defaults, "overrides": overrides or []},
        "options": options or {},
        "transformations": transformations or [],
    }


def row(title: str, y: int) -> Json:
    """A collapsible row header."""
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "panels": [],
    }


def organize(*hidden: str, **options: Json) -> Json:
    """A table "organize" transformation hiding the ``hidden`` fields (plus further options)."""
    return {
        "id": "organize",
        "options": {"excludeByName": dict.fromkeys(hidden, True), **options},
    }


def severity_mappings() -> list[Json]:
    """Value mappings colouring an incident severity."""
    return [
        {
            "type": "value",
            "options": {
                severity: {"text": severity, "color": colour, "index": i}
                for i, (severity, colour) in enumerate(SEVERITY_COLOURS.items())
            },
        }
    ]


def center_link(field: str) -> Json:
    """A table override: the ``field`` column links to the center detail dashboard."""
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [
            {
                "id": "links",
                "value": [
                    {
                        "title": "Center detail",
                        "url": "/d/dcmon-center?var-center=${__value.text}",
                    }
                ],
            }
        ],
    }


def coloured_column(field: str, mappings: list[Json]) -> Json:
    """A table override: the ``field`` column's cells coloured by ``mappings``."""
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [
            {"id": "mappings", "value": mappings},
            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
        ],
    }


def incidents_table(title: str, grid: tuple[int, int, int, int], expr: str, empty: str) -> Json:
    """A table of open incidents (one row each) from a query returning dcmon_incident_info rows."""
    return panel(
        "table",
        title,
        grid,
        [prom(expr, instant=True, table=True)],
        description=(
            "Open incidents (DESIGN §9): one per real problem. The API's "
            "/api/v1/incidents/{id} lists their failed elements and victims."
        ),
        transformations=[
            organize(
                "Time",
                "job",
                "instance",
                "__name__",
                indexByName={
                    "incident": 0,
                    "severity": 1,
                    "kind": 2,
                    "tier": 3,
                    "summary": 4,
                    "Value": 5,
                },
                renameByName={"Value": "victims"},
            )
        ],
        overrides=[coloured_column("severity", severity_mappings())],
        defaults={"noValue": empty},
        options={"sortBy": [{"displayName": "severity"}]},
    )


def status_mappings() -> list[Json]:
    """Value mappings colouring a status string."""
    return [
        {
            "type": "value",
            "options": {
                status: {"text": status, "color": colour, "index": i}
                for i, (status, colour) in enumerate(STATUS_COLOURS.items())
            },
        }
    ]


def link_state_mappings() -> list[Json]:
    """Value mappings turning the link-state code (0 up ... 3 unknown) into text and colour."""
    return [
        {
            "type": "value",
            "options": {
                str(code): {"text": state, "color": colour, "index": code}
                for code, (state, colour) in LINK_STATES.items()
            },
        }
    ]


def thresholds(*steps: tuple[float | None, str]) -> Json:
    """Absolute thresholds: (None, base colour), (value, colour), ..."""
    return {
        "mode": "absolute",
        "steps": [{"value": value, "color": colour} for value, colour in steps],
    }


def query_variable(name: str, label: str, query: str, *, multi: bool = False) -> Json:
    """A template variable filled from ``label_values(...)``."""
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": PROMETHEUS,
        "query": {"query": query, "refId": f"{name}-variable"},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
    }


def custom_variable(name: str, label: str, values: tuple[str, ...]) -> Json:
    """A template variable with a fixed list of values (the first one selected)."""
    return {
        "type": "custom",
        "name": name,
        "label": label,
        "query": ",".join(values),
        "current": {"text": values[0], "value": values[0]},
        "options": [
            {"text": value, "value": value, "selected": i == 0} for i, value in enumerate(values)
        ],
        "multi": False,
        "includeAll": False,
    }


def dashboard(
    uid: str, title: str, panels: list[Json], variables: list[Json] | None = None
) -> Json:
    """A whole dashboard; panel ids are assigned in order."""
    numbered = [{"id": i + 1, **p} for i, p in enumerate(panels)]
    return {
        "uid": uid,
        "title": title,
        "tags": ["dcmon"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables or []},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": ["dcmon"],
                "asDropdown": True,
                "title": "dcmon",
                "includeVars": False,
                "keepTime": True,
            }
        ],
        "panels": numbered,
    }


# --- the dashboards -----------------------------------------------------------------------------


def overview() -> Json:
    """Federation overview: ratio per tier, statuses, map, topology graph, non-connected centers."""
    status_now = (
        f"dcmon_center_info{{{JOB}}} * on (job, instance, center) group_left (status) "
        f"(dcmon_center_status{{{JOB}}} == 1)"
    )
    panels = [
        panel(
            "stat",
            "Connected (whole federation)",
            (0, 0, 4, 5),
            [prom(f'dcmon_federation_connected_ratio{{{JOB},tier="all"}}', instant=True)],
            description="Share of registered centers that are connected, degraded or stale.",
            unit="percentunit",
            defaults={"thresholds": thresholds((None, "red"), (0.95, "orange"), (1, "green"))},
            options={"colorMode": "background", "graphMode": "area"},
        ),
        panel(
            "bargauge",
            "Connected ratio per tier (target 100 %)",
            (4, 0, 8, 5),
            [
                prom(
                    f'dcmon_federation_connected_ratio{{{JOB},tier!="all"}}',
                    "{{tier}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            defaults={
                "min": 0,
                "max": 1,
                "thresholds": thresholds((None, "red"), (0.95, "orange"), (1, "green")),
            },
            options={"orientation": "horizontal", "displayMode": "basic"},
        ),
        panel(
            "stat",
            "Centers per status",
            (12, 0, 8, 5),
            [prom(f"dcmon_federation_centers{{{JOB}}}", "{{status}}", instant=True)],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": status},
                    "properties": [
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}
                    ],
                }
                for status, colour in STATUS_COLOURS.items()
            ],
            options={"colorMode": "value", "graphMode": "none", "textMode": "value_and_name"},
        ),
        panel(
            "stat",
            "Monitor",
            (20, 0, 4, 5),
            [
                prom(f"dcmon_broker_connected{{{JOB}}}", "broker", instant=True),
                prom(f"dcmon_federation_partitions{{{JOB}}}", "partitions", instant=True),
                prom(f"dcmon_federation_core_centers{{{JOB}}}", "core centers", instant=True),
            ],
            description="Broker 0 = the aggregator is blind; every status is unknown.",
            options={"colorMode": "value", "graphMode": "none", "textMode": "value_and_name"},
        ),
        panel(
            "geomap",
            "Centers (colour = status)",
            (0, 5, 12, 14),
            [prom(status_now, instant=True, table=True)],
            description="Coordinates from dcmon_center_info; colour from dcmon_center_status.",
            defaults={"mappings": status_mappings(), "color": {"mode": "thresholds"}},
            options={
                "view": {"id": "coords", "lat": 16.0, "lon": 106.0, "zoom": 5},
                "controls": {"showZoom": True, "mouseWheelZoom": True},
                "basemap": {"type": "default", "name": "Basemap"},
                "layers": [
                    {
                        "type": "markers",
                        "name": "Centers",
                        "location": {
                            "mode": "coords",
                            "latitude": "latitude",
                            "longitude": "longitude",
                        },
                        "config": {
                            "style": {
                                "color": {"field": "status", "fixed": STATUS_COLOURS["unknown"]},
                                "size": {"fixed": 6},
                                "text": {"field": "center", "mode": "field"},
                                "textConfig": {"fontSize": 9, "offsetY": -10},
                            },
                            "showLegend": True,
                        },
                        "tooltip": True,
                    }
                ],
            },
            transformations=[
                {
                    "id": "convertFieldType",
                    "options": {
                        "conversions": [
                            {"targetField": "latitude", "destinationType": "number"},
                            {"targetField": "longitude", "destinationType": "number"},
                        ]
                    },
                },
            ],
        ),
        panel(
            "nodegraph",
            "Topology (live)",
            (12, 5, 12, 14),
            [
                {
                    "datasource": API,
                    "type": "json",
                    "source": "url",
                    "format": "node-graph-nodes",
                    "url": "/api/v1/topology?format=nodegraph",
                    "url_options": {"method": "GET"},
                    "root_selector": "nodes",
                    "parser": "backend",
                },
                {
                    "datasource": API,
                    "type": "json",
                    "source": "url",
                    "format": "node-graph-edges",
                    "url": "/api/v1/topology?format=nodegraph",
                    "url_options": {"method": "GET"},
                    "root_selector": "edges",
                    "parser": "backend",
                },
            ],
            description=(
                "Nodes and edges frames from the aggregator's /api/v1/topology?format=nodegraph "
                "through the Infinity datasource."
            ),
            datasource=API,
        ),
        incidents_table(
            "Open incidents",
            (0, 19, 24, 7),
            f"dcmon_incident_info{{{JOB}}} * on (job, instance, incident) group_left () "
            f"sum by (job, instance, incident) (dcmon_incident_victims{{{JOB}}})",
            "no open incident",
        ),
        panel(
            "table",
            "Centers not connected (and degraded / stale), by incident",
            (0, 26, 24, 9),
            [
                prom(
                    f"{CENTER_MEMBERSHIP} * on (job, instance, center) group_left (status) "
                    f'(dcmon_center_status{{{JOB},status=~"{NOT_CONNECTED}"}} == 1)',
                    instant=True,
                    table=True,
                )
            ],
            description=(
                "The incident a center is a failed element or a victim of (empty: none "
                "explains it); the center detail dashboard and the API say why."
            ),
            transformations=[
                organize(
                    "Time",
                    "Value",
                    "job",
                    "instance",
                    "__name__",
                    indexByName={"center": 0, "status": 1, "incident": 2},
                )
            ],
            overrides=[coloured_column("status", status_mappings()), center_link("center")],
            options={"sortBy": [{"displayName": "status"}]},
        ),
        panel(
            "timeseries",
            "Centers per status over time",
            (0, 35, 24, 8),
            [prom(f'dcmon_federation_centers{{{JOB},status!="connected"}}', "{{status}}")],
            defaults={"custom": {"stacking": {"mode": "normal"}, "fillOpacity": 30}},
            overrides=[
                {
                    "matcher": {"id": "byName", "options": status},
                    "properties": [
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}
                    ],
                }
                for status, colour in STATUS_COLOURS.items()
            ],
        ),
    ]
    return dashboard("dcmon-overview", "dcmon / Federation overview", panels)


def capacity() -> Json:
    """Capacity: available vs total over connected centers, by tier and by region, over time."""
    panels: list[Json] = [
        row("By tier (connected centers with a fresh capacity report)", 0),
        panel(
            "timeseries",
            "$resource: available vs total, by tier",
            (0, 1, 16, 9),
            [
                prom(
                    f'dcmon_capacity_available{{{JOB},resource="$resource"}}', "available {{tier}}"
                ),
                prom(f'dcmon_capacity{{{JOB},resource="$resource"}}', "total {{tier}}"),
            ],
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": "total .*"},
                    "properties": [
                        {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}
                    ],
                }
            ],
        ),
        panel(
            "bargauge",
            "$resource in use, by tier",
            (16, 1, 8, 9),
            [
                prom(
                    f'1 - dcmon_capacity_available{{{JOB},resource="$resource"}}'
                    f' / (dcmon_capacity{{{JOB},resource="$resource"}} > 0)',
                    "{{tier}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            defaults={
                "min": 0,
                "max": 1,
                "thresholds": thresholds((None, "green"), (0.75, "orange"), (0.9, "red")),
            },
            options={"orientation": "horizontal", "displayMode": "gradient"},
        ),
        row("By region (connected centers whose agent is live)", 10),
    ]
    for i, resource in enumerate(RESOURCES):
        total, available = CENTER_CAPACITY[resource]
        in_region = (
            f" * on (job, instance, center) group_left (region) dcmon_center_info{{{JOB}}}"
            f" and on (job, instance, center) (dcmon_center_connected{{{JOB}}} == 1)"
            f" and on (job, instance, center) (dcmon_center_up{{{JOB}}} == 1)"
        )
        panels.append(
            panel(
                "timeseries",
                f"{resource}: available vs total, by region",
                (12 * (i % 2), 11 + 8 * (i // 2), 12, 8),
                [
                    prom(
                        f"sum by (region) ({available}{{{JOB}}}{in_region})",
                        "available {{region}}",
                    ),
                    prom(f"sum by (region) ({total}{{{JOB}}}{in_region})", "total {{region}}"),
                ],
                unit=RESOURCE_UNITS[resource],
            )
        )
    variables = [custom_variable("resource", "Resource", RESOURCES)]
    return dashboard("dcmon-capacity", "dcmon / Capacity", panels, variables)


def link_state_code(selector: str) -> str:
    """PromQL giving each link 0 (up), 1 (asymmetric), 2 (down) or 3 (unknown)."""
    terms = [
        f'{code} * sum without (state) (dcmon_link_state{{{selector},state="{state}"}})'
        for code, (state, _) in LINK_STATES.items()
    ]
    return " + ".join(terms)


def matrix_table(title: str, grid: tuple[int, int, int, int], metric: str, unit: str) -> Json:
    """A MaDDash-style source x target grid of the latest probe ``metric``."""
    steps = {
        "s": thresholds((None, "green"), (0.03, "yellow"), (0.08, "orange"), (0.15, "red")),
        "percentunit": thresholds(
            (None, "green"), (0.01, "yellow"), (0.05, "orange"), (0.2, "red")
        ),
    }[unit]
    return panel(
        "table",
        title,
        grid,
        [prom(f'{metric}{{{JOB},source=~"$center"}}', instant=True, table=True)],
        description="Rows: the probing center (source). Columns: the probed neighbour (target).",
        unit=unit,
        defaults={
            "thresholds": steps,
            "custom": {"cellOptions": {"type": "color-background"}, "align": "center"},
            "noValue": "",
        },
        transformations=[
            {
                "id": "groupingToMatrix",
                "options": {"rowField": "source", "columnField": "target", "valueField": "Value"},
            }
        ],
    )


def links() -> Json:
    """Links: source x target grids of RTT and loss, link states over time, worst links."""
    not_up = f"{link_state_code(JOB)} > 0"
    panels = [
        matrix_table("Probe RTT: source x target", (0, 0, 24, 12), "dcmon_probe_rtt_seconds", "s"),
        matrix_table(
            "Probe loss: source x target", (0, 12, 24, 12), "dcmon_probe_loss_ratio", "percentunit"
        ),
        panel(
            "state-timeline",
            "Link states over time (links not up at some point of the range)",
            (0, 24, 24, 12),
            [
                prom(
                    f"({link_state_code(JOB)}) and on (job, instance, a, b)"
                    f" (max_over_time(({not_up})[$__range:$__interval]) > 0)",
                    "{{a}} -- {{b}}",
                )
            ],
            defaults={"mappings": link_state_mappings(), "color": {"mode": "thresholds"}},
            options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8},
        ),
        panel(
            "timeseries",
            "Highest link RTT (mean of fresh probes)",
            (0, 36, 12, 9),
            [prom(f"topk(10, dcmon_link_rtt_seconds{{{JOB}}})", "{{a}} -- {{b}}")],
            unit="s",
        ),
        panel(
            "timeseries",
            "Highest link loss (mean of fresh probes)",
            (12, 36, 12, 9),
            [prom(f"topk(10, dcmon_link_loss_ratio{{{JOB}}} > 0)", "{{a}} -- {{b}}")],
            unit="percentunit",
        ),
        panel(
            "table",
            "Bridge links (single points of failure) and their dependents",
            (0, 45, 24, 8),
            [
                prom(
                    f"dcmon_link_dependents{{{JOB}}} and on (job, instance, a, b)"
                    f" (dcmon_link_bridge{{{JOB}}} == 1)",
                    instant=True,
                    table=True,
                )
            ],
            transformations=[
                organize("Time", "job", "instance", renameByName={"Value": "dependents"})
            ],
        ),
    ]
    variables = [
        query_variable(
            "center",
            "Source center",
            f"label_values(dcmon_center_info{{{JOB}}}, center)",
            multi=True,
        )
    ]
    return dashboard("dcmon-links", "dcmon / Links", panels, variables)


def center_detail() -> Json:
    """Center detail, templated by center: status, why, heartbeat, capacity, probes, links."""
    center = f'{JOB},center="$center"'
    panels = [
        panel(
            "stat",
            "Status",
            (0, 0, 4, 4),
            [prom(f"dcmon_center_status{{{center}}} == 1", "{{status}}", instant=True)],
            options={"textMode": "name", "colorMode": "background", "graphMode": "none"},
            overrides=[
                {
                    "matcher": {"id": "byName", "options": status},
                    "properties": [
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}
                    ],
                }
                for status, colour in STATUS_COLOURS.items()
            ],
        ),
        incidents_table(
            "Incidents (why)",
            (4, 0, 12, 4),
            f"dcmon_incident_info{{{JOB}}} * on (job, instance, incident) group_left () "
            f"sum by (job, instance, incident) (dcmon_incident_victims{{{JOB}}}) "
            f"and on (job, instance, incident) dcmon_center_incident{{{center}}}",
            "in no open incident",
        ),
        panel(
            "stat",
            "Since last heartbeat",
            (16, 0, 4, 4),
            [
                prom(
                    f"time() - dcmon_center_last_heartbeat_timestamp_seconds{{{center}}}",
                    instant=True,
                )
            ],
            unit="s",
            defaults={"thresholds": thresholds((None, "green"), (15, "orange"), (60, "red"))},
        ),
        panel(
            "stat",
            "Agent / SPOF / dependents / clock skew",
            (20, 0, 4, 4),
            [
                prom(f"dcmon_center_up{{{center}}}", "agent live", instant=True),
                prom(f"dcmon_center_never_seen{{{center}}}", "never seen", instant=True),
                prom(f"dcmon_center_single_point_of_failure{{{center}}}", "SPOF", instant=True),
                prom(f"dcmon_center_dependents{{{center}}}", "dependents", instant=True),
                prom(f"dcmon_center_clock_skew_seconds{{{center}}}", "clock skew s", instant=True),
            ],
            options={"textMode": "value_and_name", "graphMode": "none", "colorMode": "none"},
        ),
        panel(
            "state-timeline",
            "Status over time",
            (0, 4, 24, 4),
            [prom(f"dcmon_center_status{{{center}}} == 1", "{{status}}")],
            options={"showValue": "never", "mergeValues": True},
            overrides=[
                {
                    "matcher": {"id": "byName", "options": status},
                    "properties": [
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}
                    ],
                }
                for status, colour in STATUS_COLOURS.items()
            ],
        ),
    ]
    for i, resource in enumerate(RESOURCES):
        total, available = CENTER_CAPACITY[resource]
        panels.append(
            panel(
                "timeseries",
                f"{resource}: available vs total",
                (6 * i, 8, 6, 7),
                [
                    prom(f"{available}{{{center}}}", "available"),
                    prom(f"{total}{{{center}}}", "total"),
                ],
                unit=RESOURCE_UNITS[resource],
            )
        )
    panels += [
        panel(
            "timeseries",
            "Probe RTT to neighbours",
            (0, 15, 12, 8),
            [prom(f'dcmon_probe_rtt_seconds{{{JOB},source="$center"}}', "{{target}}")],
            unit="s",
        ),
        panel(
            "timeseries",
            "Probe loss to neighbours",
            (12, 15, 12, 8),
            [prom(f'dcmon_probe_loss_ratio{{{JOB},source="$center"}}', "{{target}}")],
            unit="percentunit",
        ),
        panel(
            "state-timeline",
            "Links of this center",
            (0, 23, 24, 8),
            [
                prom(link_state_code(f'{JOB},a="$center"'), "{{a}} -- {{b}}"),
                prom(link_state_code(f'{JOB},b="$center"'), "{{a}} -- {{b}}"),
            ],
            defaults={"mappings": link_state_mappings(), "color": {"mode": "thresholds"}},
            options={"showValue": "never", "mergeValues": True},
        ),
    ]
    variables = [
        query_variable("center", "Center", f"label_values(dcmon_center_info{{{JOB}}}, center)")
    ]
    return dashboard("dcmon-center", "dcmon / Center detail", panels, variables)


DASHBOARDS = {
    "federation-overview.json": overview,
    "capacity.json": capacity,
    "links.json": links,
    "center-detail.json": center_detail,
}


def render(build: Callable[[], Json]) -> str:
    """A dashboard as committed: stable key order, two-space indent, final newline."""
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Write every dashboard into the output directory."""
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "grafana/dashboards")
    out.mkdir(parents=True, exist_ok=True)
    for name, build in DASHBOARDS.items():
        (out / name).write_text(render(build), encoding="utf-8")
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
