"""Building blocks every dashboard shares: layout, the dashboard frame, incident views."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common, table
from grafana_foundation_sdk.builders import dashboard as builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import prometheus

from scripts.dashboards.colours import SEVERITY_COLOURS, coloured_cells, severity_mappings
from scripts.dashboards.sources import API, Infinity, InfinityAnnotation, InfinityQuery

PanelBuilder = cogbuilder.Builder[model.Panel]
GRID_COLUMNS = 24

INCIDENTS_URL = "/api/v1/incidents"
CENTER_DETAIL_URL = "/d/dcmon-center/dcmon-center-detail"


def thresholds(*steps: tuple[float | None, str]) -> builder.ThresholdsConfig:
    """Absolute thresholds: (None, base colour), (value, colour), ..."""
    return (
        builder.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=colour) for value, colour in steps])
    )


def organize(*hidden: str, renamed: dict[str, str] | None = None) -> model.DataTransformerConfig:
    """A table "organize" transformation hiding ``hidden`` fields and renaming others."""
    return model.DataTransformerConfig(
        id_val="organize",
        options={"excludeByName": dict.fromkeys(hidden, True), "renameByName": renamed or {}},
    )


def center_links() -> list[model.DynamicConfigValue]:
    """Override properties: the cell links to that center's detail dashboard."""
    link = {"title": "Center detail", "url": CENTER_DETAIL_URL + "?var-center=${__value.text}"}
    return [model.DynamicConfigValue(id_val="links", value=[link])]


def open_incidents_table(title: str, *, span: int = 24, height: int = 7) -> table.Panel:
    """Open incidents from the API: summary, severity, age, victims, capacity impact."""
    query = (
        Infinity(INCIDENTS_URL + "?state=open", "incidents")
        .column("id", "incident")
        .column("severity", "severity")
        .column("summary", "summary")
        .column("kind", "kind")
        .column("tier", "tier")
        .column("opened_at", "opened", "timestamp_epoch_s")
        .column("impact.victims_by_status.isolated", "isolated", "number")
        .column("impact.victims_by_status.unreachable", "unreachable", "number")
        .column("impact.victims_by_status.down", "down", "number")
        .column("impact.victims_by_status.degraded", "degraded", "number")
        .column("impact.capacity_unreachable.gpus", "GPUs unreachable", "number")
        .column("impact.capacity_unreachable.cpu_cores", "cores unreachable", "number")
        .column("flaps", "flaps", "number")
    )
    return (
        table.Panel()
        .title(title)
        .description(
            "Open incidents (one per real problem) from the aggregator's /api/v1/incidents. "
            "Victims by status: isolated, unreachable and down lost the core, degraded lost "
            "redundancy. Capacity: available capacity of the victims that lost the core."
        )
        .datasource(API)
        .span(span)
        .height(height)
        .with_target(query)
        .no_value("no open incident")
        .override_by_name("severity", coloured_cells(severity_mappings()))
        .override_by_name(
            "opened", [model.DynamicConfigValue(id_val="unit", value="dateTimeFromNow")]
        )
        .sort_by([common.TableSortByFieldState().display_name("severity")])
    )


def incident_annotation() -> builder.AnnotationQuery:
    """Incidents as annotations on every time series: opened to resolved, titled by id."""
    query = (
        Infinity(
            INCIDENTS_URL + "?state=all&since=${__from:date:seconds}&until=${__to:date:seconds}",
            "incidents",
        )
        .column("opened_at", "time", "timestamp_epoch_s")
        .column("resolved_at", "timeEnd", "timestamp_epoch_s")
        .column("id", "title")
        .column("summary", "text")
        .ref_id("Anno")
    )
    return (
        builder.AnnotationQuery()
        .name("Incidents")
        .datasource(API)
        .enable(True)
        .icon_color(SEVERITY_COLOURS["critical"])
        .target(InfinityAnnotation(query))
    )


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: Sequence[PanelBuilder],
    variables: Sequence[cogbuilder.Builder[model.VariableModel]] = (),
) -> model.Dashboard:
    """A whole dcmon dashboard: tagged, linked to the others, incident annotations, panel ids."""
    built = (
        builder.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["dcmon"])
        .timezone("browser")
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .time("now-6h", "now")
        .link(
            builder.DashboardLink("dcmon")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(["dcmon"])
            .as_dropdown(True)
            .keep_time(True)
            .include_vars(False)
        )
        .annotation(incident_annotation())
        .variables(list(variables))
    )
    for panel in panels:
        built = built.with_panel(panel)
    result = built.build()
    lay_out(result.panels or [])
    for number, panel_model in enumerate(result.panels or [], start=1):
        panel_model.id_val = number
        if isinstance(panel_model, model.Panel):
            name_queries(panel_model.targets or [])
    return result


def lay_out(panels: Sequence[model.Panel | model.RowPanel]) -> None:
    """Place panels left to right in order, each its ``span`` wide, wrapping to a new line when
    the next one does not fit (the SDK's own placement lets a wide panel overflow the grid)."""
    x = y = line_height = 0
    for panel in panels:
        place = panel.grid_pos or model.GridPos()
        if x + place.w > GRID_COLUMNS:
            x, y, line_height = 0, y + line_height, 0
        place.x, place.y = x, y
        panel.grid_pos = place
        x += place.w
        line_height = max(line_height, place.h)


def name_queries(targets: Sequence[cogvariants.Dataquery]) -> None:
    """Give a panel's queries the refIds A, B, C... (in order)."""
    for number, target in enumerate(targets):
        if isinstance(target, prometheus.Dataquery | InfinityQuery):
            target.ref_id = chr(ord("A") + number)
