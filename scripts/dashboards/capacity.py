"""Capacity and resilience, for capacity planners: what is available in reachable centers, by tier
and region, what is unreachable now, and which single failure would hurt most."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as builder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

from agents.protocol import RESOURCES
from monitor.service.metrics import CAPACITY_FAMILY_NAMES
from scripts.dashboards.panels import dashboard, organize, thresholds
from scripts.dashboards.sources import API, JOB, PROMETHEUS, Infinity, prom

UID = "dcmon-capacity"
RESILIENCE_URL = "/api/v1/resilience?k=1&limit=10"
"""The planners' ranking of single failures (DESIGN §10; the endpoint lands with issue 13)."""
RESOURCE_UNITS = {
    "cpu_cores": "short",
    "gpus": "short",
    "memory_bytes": "bytes",
    "storage_bytes": "bytes",
}
DASHED = {"fill": "dash", "dash": [10, 10]}
CONNECTED_AND_LIVE = (
    f" * on (job, instance, center) group_left (region) dcmon_center_info{{{JOB}}}"
    f" and on (job, instance, center) (dcmon_center_connected{{{JOB}}} == 1)"
    f" and on (job, instance, center) (dcmon_center_up{{{JOB}}} == 1)"
)


def by_tier() -> list[timeseries.Panel | bargauge.Panel]:
    """Available against total per tier (the aggregator's own capacity totals), and use."""
    return [
        timeseries.Panel()
        .title("$resource: available vs total, by tier (connected centers)")
        .description("Connected centers with a fresh capacity report (DESIGN §5 capacity).")
        .datasource(PROMETHEUS)
        .span(16)
        .height(9)
        .with_target(
            prom(f'dcmon_capacity_available{{{JOB},resource="$resource"}}', "available {{tier}}")
        )
        .with_target(prom(f'dcmon_capacity{{{JOB},resource="$resource"}}', "total {{tier}}"))
        .override_by_regexp(
            "total .*",
            [
                model.DynamicConfigValue(
                    id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
                )
            ],
        ),
        bargauge.Panel()
        .title("$resource in use, by tier")
        .datasource(PROMETHEUS)
        .span(8)
        .height(9)
        .with_target(
            prom(
                f'1 - dcmon_capacity_available{{{JOB},resource="$resource"}}'
                f' / (dcmon_capacity{{{JOB},resource="$resource"}} > 0)',
                "{{tier}}",
                instant=True,
            )
        )
        .unit("percentunit")
        .min(0)
        .max(1)
        .thresholds(thresholds((None, "green"), (0.75, "orange"), (0.9, "red")))
        .orientation(common_model.VizOrientation.HORIZONTAL)
        .display_mode(common_model.BarGaugeDisplayMode.GRADIENT),
    ]


def unreachable() -> list[stat.Panel | bargauge.Panel | table.Panel]:
    """What the open incidents cut off: capacity and centers."""
    return [
        stat.Panel()
        .title("Capacity unreachable now (all open incidents)")
        .description(
            "Available capacity of the centers that lost the core, summed over open incidents."
        )
        .datasource(PROMETHEUS)
        .span(8)
        .height(6)
        .with_target(
            prom(
                f"sum by (resource) (dcmon_incident_capacity_unreachable{{{JOB}}})",
                "{{resource}}",
                instant=True,
            )
        )
        .no_value("0")
        .text_mode(common_model.BigValueTextMode.VALUE_AND_NAME)
        .graph_mode(common_model.BigValueGraphMode.NONE),
        bargauge.Panel()
        .title("Centers not connected, by tier")
        .datasource(PROMETHEUS)
        .span(8)
        .height(6)
        .with_target(
            prom(
                f"count by (tier) (dcmon_center_info{{{JOB}}} and on (job, instance, center)"
                f" (dcmon_center_connected{{{JOB}}} == 0))",
                "{{tier}}",
                instant=True,
            )
        )
        .no_value("none")
        .orientation(common_model.VizOrientation.HORIZONTAL)
        .thresholds(thresholds((None, "red"))),
        table.Panel()
        .title("$resource unreachable, per incident")
        .datasource(PROMETHEUS)
        .span(8)
        .height(6)
        .with_target(
            prom(
                f'(dcmon_incident_capacity_unreachable{{{JOB},resource="$resource"}} > 0)'
                f" * on (job, instance, incident) group_left (summary)"
                f" dcmon_incident_info{{{JOB}}}",
                instant=True,
                table=True,
            )
        )
        .with_transformation(
            organize(
                "Time", "job", "instance", "__name__", "resource", renamed={"Value": "$resource"}
            )
        )
        .no_value("nothing unreachable"),
    ]


def by_region() -> list[timeseries.Panel]:
    """Available against total per region, one panel per resource."""
    panels = []
    for resource, total, available in CAPACITY_FAMILY_NAMES:
        panels.append(
            timeseries.Panel()
            .title(f"{resource}: available vs total, by region (connected, agent live)")
            .datasource(PROMETHEUS)
            .span(12)
            .height(8)
            .with_target(
                prom(
                    f"sum by (region) ({available}{{{JOB}}}{CONNECTED_AND_LIVE})",
                    "available {{region}}",
                )
            )
            .with_target(
                prom(f"sum by (region) ({total}{{{JOB}}}{CONNECTED_AND_LIVE})", "total {{region}}")
            )
            .unit(RESOURCE_UNITS[resource])
        )
    return panels


def single_failures() -> table.Panel:
    """The ten single failures (a center or a link) that would hurt most."""
    return (
        table.Panel()
        .title("Top 10 single failures (what-if, healthy federation)")
        .description(
            "GET /api/v1/resilience?k=1&limit=10: ranked by centers that would lose the core, "
            "then capacity unreachable, then centers that would lose redundancy."
        )
        .datasource(API)
        .span(24)
        .height(9)
        .with_target(
            Infinity(RESILIENCE_URL, "failures")
            .column("rank", "rank", "number")
            .column("label", "failure")
            .column("lost_core", "centers losing the core", "number")
            .column("capacity_unreachable.gpus", "GPUs unreachable", "number")
            .column("capacity_unreachable.cpu_cores", "cores unreachable", "number")
            .column("lost_redundancy", "centers losing redundancy", "number")
        )
        .no_value("no ranking yet (the aggregator computes it in the background)")
    )


def capacity() -> model.Dashboard:
    """The capacity and resilience dashboard."""
    variable = (
        builder.CustomVariable("resource")
        .label("Resource")
        .values(",".join(RESOURCES))
        .current(model.VariableOption(text=RESOURCES[0], value=RESOURCES[0], selected=True))
    )
    return dashboard(
        UID,
        "dcmon / Capacity and resilience",
        "How much capacity do reachable centers offer, what is cut off, what would a failure cost?",
        [*by_tier(), *unreachable(), *by_region(), single_failures()],
        [variable],
    )
