"""Center detail, for operations engineers and on-call following a link from an alert or a table:
one center's status history, why, incidents, heartbeat, capacity, probes and links."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builder
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

from monitor.service.metrics import CAPACITY_FAMILY_NAMES
from monitor.status.palette import STATUS_COLOURS
from scripts.dashboards.capacity import RESOURCE_UNITS
from scripts.dashboards.colours import (
    coloured_cells,
    fixed_colour,
    severity_mappings,
    status_mappings,
)
from scripts.dashboards.links import link_state_code, link_state_timeline
from scripts.dashboards.panels import dashboard, organize, thresholds
from scripts.dashboards.sources import API, JOB, PROMETHEUS, Infinity, prom

UID = "dcmon-center"
CENTER = f'{JOB},center="$center"'


def status_and_why() -> list[stat.Panel | table.Panel]:
    """The center's status now, why (from the API), heartbeat age and graph facts."""
    status = (
        stat.Panel()
        .title("Status")
        .datasource(PROMETHEUS)
        .span(4)
        .height(5)
        .with_target(prom(f"dcmon_center_status{{{CENTER}}} == 1", "{{status}}", instant=True))
        .text_mode(common_model.BigValueTextMode.NAME)
        .color_mode(common_model.BigValueColorMode.BACKGROUND)
        .graph_mode(common_model.BigValueGraphMode.NONE)
    )
    for name, colour in STATUS_COLOURS.items():
        status.override_by_name(name, [fixed_colour(colour)])
    return [
        status,
        table.Panel()
        .title("Why")
        .description("The aggregator's own words (GET /api/v1/centers/{id}): root cause first.")
        .datasource(API)
        .span(12)
        .height(5)
        .with_target(
            Infinity("/api/v1/centers/${center}")
            .column("status", "status")
            .column("why", "why")
            .column("tier", "tier")
            .column("region", "region")
            .column("dependents", "dependents", "number")
        )
        .override_by_name("status", coloured_cells(status_mappings())),
        stat.Panel()
        .title("Since last heartbeat")
        .datasource(PROMETHEUS)
        .span(4)
        .height(5)
        .with_target(
            prom(
                f"time() - dcmon_center_last_heartbeat_timestamp_seconds{{{CENTER}}}",
                instant=True,
            )
        )
        .unit("s")
        .thresholds(thresholds((None, "green"), (15, "orange"), (60, "red"))),
        stat.Panel()
        .title("Agent / SPOF / dependents / clock skew")
        .datasource(PROMETHEUS)
        .span(4)
        .height(5)
        .with_target(prom(f"dcmon_center_up{{{CENTER}}}", "agent live", instant=True))
        .with_target(prom(f"dcmon_center_never_seen{{{CENTER}}}", "never seen", instant=True))
        .with_target(
            prom(f"dcmon_center_single_point_of_failure{{{CENTER}}}", "SPOF", instant=True)
        )
        .with_target(prom(f"dcmon_center_dependents{{{CENTER}}}", "dependents", instant=True))
        .with_target(
            prom(f"dcmon_center_clock_skew_seconds{{{CENTER}}}", "clock skew s", instant=True)
        )
        .text_mode(common_model.BigValueTextMode.VALUE_AND_NAME)
        .graph_mode(common_model.BigValueGraphMode.NONE)
        .color_mode(common_model.BigValueColorMode.NONE),
    ]


def status_history() -> statetimeline.Panel:
    """The center's status over the dashboard's range, in the palette's colours."""
    panel = (
        statetimeline.Panel()
        .title("Status history")
        .datasource(PROMETHEUS)
        .span(24)
        .height(4)
        .with_target(prom(f"dcmon_center_status{{{CENTER}}} == 1", "{{status}}"))
        .show_value(common_model.VisibilityMode.NEVER)
        .merge_values(True)
    )
    for name, colour in STATUS_COLOURS.items():
        panel.override_by_name(name, [fixed_colour(colour)])
    return panel


def incidents() -> table.Panel:
    """The open incidents this center is a failed element or a victim of."""
    return (
        table.Panel()
        .title("Open incidents of this center")
        .datasource(PROMETHEUS)
        .span(24)
        .height(5)
        .with_target(
            prom(
                f"dcmon_incident_info{{{JOB}}} * on (job, instance, incident) group_left () "
                f"sum by (job, instance, incident) (dcmon_incident_victims{{{JOB}}}) "
                f"and on (job, instance, incident) dcmon_center_incident{{{CENTER}}}",
                instant=True,
                table=True,
            )
        )
        .with_transformation(
            organize("Time", "job", "instance", "__name__", renamed={"Value": "victims"})
        )
        .override_by_name("severity", coloured_cells(severity_mappings()))
        .no_value("in no open incident")
    )


def capacity_and_probes() -> list[timeseries.Panel]:
    """Capacity per resource, and probe RTT and loss to each neighbour."""
    panels = [
        timeseries.Panel()
        .title(f"{resource}: available vs total")
        .datasource(PROMETHEUS)
        .span(6)
        .height(7)
        .with_target(prom(f"{available}{{{CENTER}}}", "available"))
        .with_target(prom(f"{total}{{{CENTER}}}", "total"))
        .unit(RESOURCE_UNITS[resource])
        for resource, total, available in CAPACITY_FAMILY_NAMES
    ]
    panels += [
        timeseries.Panel()
        .title("Probe RTT to neighbours")
        .datasource(PROMETHEUS)
        .span(12)
        .height(8)
        .with_target(prom(f'dcmon_probe_rtt_seconds{{{JOB},source="$center"}}', "{{target}}"))
        .unit("s"),
        timeseries.Panel()
        .title("Probe loss to neighbours")
        .datasource(PROMETHEUS)
        .span(12)
        .height(8)
        .with_target(prom(f'dcmon_probe_loss_ratio{{{JOB},source="$center"}}', "{{target}}"))
        .unit("percentunit"),
    ]
    return panels


def center_detail() -> model.Dashboard:
    """The center detail dashboard, templated by center."""
    center = (
        builder.QueryVariable("center")
        .label("Center")
        .datasource(PROMETHEUS)
        .query(f"label_values(dcmon_center_info{{{JOB}}}, center)")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    return dashboard(
        UID,
        "dcmon / Center detail",
        "One center: status history, why, incidents, heartbeat, capacity, probes, links.",
        [
            *status_and_why(),
            status_history(),
            incidents(),
            *capacity_and_probes(),
            link_state_timeline(
                "Links of this center",
                [link_state_code(f'{JOB},a="$center"'), link_state_code(f'{JOB},b="$center"')],
            ),
        ],
        [center],
    )
