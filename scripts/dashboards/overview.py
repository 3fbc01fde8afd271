"""Federation overview, for operations engineers and on-call: is everything connected, and if not,
which incidents explain it, where on the map, and since when?"""

from __future__ import annotations

from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    geomap,
    nodegraph,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import dashboard as builder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

from monitor.status.palette import STATUS_COLOURS
from scripts.dashboards.colours import (
    coloured_cells,
    fixed_colour,
    status_mappings,
    topology_mappings,
)
from scripts.dashboards.panels import (
    center_links,
    dashboard,
    open_incidents_table,
    organize,
    thresholds,
)
from scripts.dashboards.sources import API, JOB, PROMETHEUS, Infinity, prom

UID = "dcmon-overview"
TOPOLOGY_FRAMES_URL = "/api/v1/topology?format=nodegraph"
NOT_CONNECTED = "degraded|isolated|stale|down|unreachable"
# One series per (center, incident), and one without `incident` for a center in none.
CENTER_MEMBERSHIP = (
    f"(dcmon_center_incident{{{JOB}}} or on (job, instance, center) "
    f"max by (job, instance, center) (dcmon_center_info{{{JOB}}}))"
)
TARGET = thresholds((None, "red"), (0.95, "orange"), (1, "green"))
"""The strategy's target: 100 % connected (green only there)."""


def topology_frames() -> list[Infinity]:
    """The nodes and edges frames of the aggregator's Node Graph answer."""
    return [
        Infinity(TOPOLOGY_FRAMES_URL, "nodes").format("node-graph-nodes"),
        Infinity(TOPOLOGY_FRAMES_URL, "edges").format("node-graph-edges"),
    ]


def status_colour_overrides(panel: stat.Panel | timeseries.Panel) -> None:
    """Give every series named after a status that status's colour."""
    for status, colour in STATUS_COLOURS.items():
        panel.override_by_name(status, [fixed_colour(colour)])


def headline() -> list[stat.Panel | bargauge.Panel]:
    """The top row: connected share, per tier against the target, statuses, the monitor."""
    per_status = (
        stat.Panel()
        .title("Centers per status")
        .datasource(PROMETHEUS)
        .span(8)
        .height(5)
        .with_target(prom(f"dcmon_federation_centers{{{JOB}}}", "{{status}}", instant=True))
        .color_mode(common_model.BigValueColorMode.VALUE)
        .graph_mode(common_model.BigValueGraphMode.NONE)
        .text_mode(common_model.BigValueTextMode.VALUE_AND_NAME)
    )
    status_colour_overrides(per_status)
    return [
        stat.Panel()
        .title("Connected (whole federation)")
        .description("Share of registered centers that are connected, degraded or stale.")
        .datasource(PROMETHEUS)
        .span(4)
        .height(5)
        .with_target(prom(f'dcmon_federation_connected_ratio{{{JOB},tier="all"}}', instant=True))
        .unit("percentunit")
        .thresholds(TARGET)
        .color_mode(common_model.BigValueColorMode.BACKGROUND)
        .graph_mode(common_model.BigValueGraphMode.AREA),
        bargauge.Panel()
        .title("Connected ratio per tier (target 100 %)")
        .datasource(PROMETHEUS)
        .span(8)
        .height(5)
        .with_target(
            prom(f'dcmon_federation_connected_ratio{{{JOB},tier!="all"}}', "{{tier}}", instant=True)
        )
        .unit("percentunit")
        .min(0)
        .max(1)
        .thresholds(TARGET)
        .orientation(common_model.VizOrientation.HORIZONTAL)
        .display_mode(common_model.BarGaugeDisplayMode.BASIC),
        per_status,
        stat.Panel()
        .title("Monitor")
        .description("Broker 0 = the aggregator is blind: every status is unknown.")
        .datasource(PROMETHEUS)
        .span(4)
        .height(5)
        .with_target(prom(f"dcmon_broker_connected{{{JOB}}}", "broker", instant=True))
        .with_target(prom(f"dcmon_federation_partitions{{{JOB}}}", "partitions", instant=True))
        .with_target(prom(f"dcmon_federation_core_centers{{{JOB}}}", "core centers", instant=True))
        .color_mode(common_model.BigValueColorMode.VALUE)
        .graph_mode(common_model.BigValueGraphMode.NONE)
        .text_mode(common_model.BigValueTextMode.VALUE_AND_NAME),
    ]


def federation_map() -> geomap.Panel:
    """Centers and links on the map, coloured by status and link state (Grafana's network layer)."""
    panel = (
        geomap.Panel()
        .title("Federation map (centers by status, links by state)")
        .description(
            "The aggregator's Node Graph frames (/api/v1/topology?format=nodegraph) drawn by "
            "the geomap's network layer at each center's coordinates."
        )
        .datasource(API)
        .span(12)
        .height(14)
        .mappings(topology_mappings())
        .color_scheme(builder.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .view(geomap.MapViewConfig().id("coords").lat(16).lon(106).zoom(5))
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True))
        .basemap(common.MapLayerOptions().type("default").name("Basemap"))
        .layers(
            [
                common.MapLayerOptions()
                .type("network")
                .name("Centers and links")
                .location(
                    common.FrameGeometrySource()
                    .mode(common_model.FrameGeometrySourceMode.COORDS)
                    .latitude("detail__latitude")
                    .longitude("detail__longitude")
                )
                .config(
                    {
                        "showLegend": True,
                        "style": {
                            "color": {"field": "mainStat", "fixed": STATUS_COLOURS["unknown"]},
                            "size": {"fixed": 6},
                            "text": {"field": "title", "mode": "field"},
                            "textConfig": {"fontSize": 9, "offsetY": -10},
                        },
                        "edgeStyle": {
                            "color": {"field": "mainStat", "fixed": STATUS_COLOURS["unknown"]},
                            "lineWidth": 2,
                        },
                    }
                )
                .tooltip(True)
            ]
        )
    )
    for query in topology_frames():
        panel.with_target(query)
    return panel


def topology_graph() -> nodegraph.Panel:
    """The federation as a graph (panel id ``nodeGraph``)."""
    panel = (
        nodegraph.Panel()
        .title("Topology (live)")
        .description(
            "Nodes and edges frames from /api/v1/topology?format=nodegraph through the Infinity "
            "datasource; node colours and arcs from the status palette."
        )
        .datasource(API)
        .span(12)
        .height(14)
    )
    for query in topology_frames():
        panel.with_target(query)
    return panel


def history() -> list[timeseries.Panel]:
    """Connected ratio per tier against the target, and statuses over time."""
    ratio = (
        timeseries.Panel()
        .title("Connected ratio per tier over time (target 100 %)")
        .datasource(PROMETHEUS)
        .span(12)
        .height(8)
        .with_target(prom(f"dcmon_federation_connected_ratio{{{JOB}}}", "{{tier}}"))
        .unit("percentunit")
        .max(1)
        .thresholds(thresholds((None, "red"), (1, "green")))
        .thresholds_style(
            common.GraphThresholdsStyleConfig().mode(common_model.GraphThresholdsStyleMode.DASHED)
        )
    )
    statuses = (
        timeseries.Panel()
        .title("Centers per status over time")
        .datasource(PROMETHEUS)
        .span(12)
        .height(8)
        .with_target(prom(f'dcmon_federation_centers{{{JOB},status!="connected"}}', "{{status}}"))
        .stacking(common.StackingConfig().mode(common_model.StackingMode.NORMAL))
        .fill_opacity(30)
    )
    status_colour_overrides(statuses)
    return [ratio, statuses]


def not_connected_centers() -> table.Panel:
    """Every center that is not fully connected, with the incident that explains it."""
    return (
        table.Panel()
        .title("Centers not connected (and degraded / stale), by incident")
        .description(
            "The incident a center is a failed element or a victim of (empty: none explains "
            "it); the center detail dashboard says why."
        )
        .datasource(PROMETHEUS)
        .span(24)
        .height(9)
        .with_target(
            prom(
                f"{CENTER_MEMBERSHIP} * on (job, instance, center) group_left (status) "
                f'(dcmon_center_status{{{JOB},status=~"{NOT_CONNECTED}"}} == 1)',
                instant=True,
                table=True,
            )
        )
        .with_transformation(organize("Time", "Value", "job", "instance", "__name__"))
        .override_by_name("status", coloured_cells(status_mappings()))
        .override_by_name("center", center_links())
        .sort_by([common.TableSortByFieldState().display_name("status")])
    )


def overview() -> model.Dashboard:
    """The federation overview dashboard."""
    return dashboard(
        UID,
        "dcmon / Federation overview",
        "Is the federation 100 % connected? Open incidents, map, topology, history.",
        [
            *headline(),
            open_incidents_table("Open incidents"),
            federation_map(),
            topology_graph(),
            *history(),
            not_connected_centers(),
        ],
    )
