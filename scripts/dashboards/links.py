"""Link quality, for operations engineers: the mesh of probe RTT and loss (source x target), link
states over time, the worst links and the bridges."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builder
from grafana_foundation_sdk.builders import statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

from scripts.dashboards.colours import LINK_STATE_CODES, link_state_code_mappings
from scripts.dashboards.panels import dashboard, organize, thresholds
from scripts.dashboards.sources import JOB, PROMETHEUS, prom

UID = "dcmon-links"
MESH_STEPS = {
    "s": thresholds((None, "green"), (0.03, "yellow"), (0.08, "orange"), (0.15, "red")),
    "percentunit": thresholds((None, "green"), (0.01, "yellow"), (0.05, "orange"), (0.2, "red")),
}


def link_state_code(selector: str) -> str:
    """PromQL giving each link 0 (up), 1 (asymmetric), 2 (down) or 3 (unknown)."""
    return " + ".join(
        f'{code} * sum without (state) (dcmon_link_state{{{selector},state="{state}"}})'
        for code, state in enumerate(LINK_STATE_CODES)
    )


def link_state_timeline(title: str, expressions: list[str]) -> statetimeline.Panel:
    """Link states over time, as their names in their colours."""
    panel = (
        statetimeline.Panel()
        .title(title)
        .datasource(PROMETHEUS)
        .span(24)
        .height(12)
        .mappings(link_state_code_mappings())
        .color_scheme(builder.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .show_value(common_model.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
    )
    for expr in expressions:
        panel.with_target(prom(expr, "{{a}} -- {{b}}"))
    return panel


def mesh(title: str, metric: str, unit: str) -> table.Panel:
    """A MaDDash-style source x target grid of the latest probe ``metric``."""
    return (
        table.Panel()
        .title(title)
        .description("Rows: the probing center (source). Columns: the probed neighbour (target).")
        .datasource(PROMETHEUS)
        .span(24)
        .height(12)
        .with_target(prom(f'{metric}{{{JOB},source=~"$center"}}', instant=True, table=True))
        .unit(unit)
        .thresholds(MESH_STEPS[unit])
        .cell_options(common_model.TableColoredBackgroundCellOptions())
        .align(common_model.FieldTextAlignment.CENTER)
        .no_value("")
        .with_transformation(
            model.DataTransformerConfig(
                id_val="groupingToMatrix",
                options={"rowField": "source", "columnField": "target", "valueField": "Value"},
            )
        )
    )


def links() -> model.Dashboard:
    """The link quality dashboard."""
    not_up = f"{link_state_code(JOB)} > 0"
    center = (
        builder.QueryVariable("center")
        .label("Source center")
        .datasource(PROMETHEUS)
        .query(f"label_values(dcmon_center_info{{{JOB}}}, center)")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
    )
    return dashboard(
        UID,
        "dcmon / Links",
        "How good is every link? Probe RTT and loss per source and target, states, bridges.",
        [
            mesh("Probe RTT: source x target", "dcmon_probe_rtt_seconds", "s"),
            mesh("Probe loss: source x target", "dcmon_probe_loss_ratio", "percentunit"),
            link_state_timeline(
                "Link states over time (links not up at some point of the range)",
                [
                    f"({link_state_code(JOB)}) and on (job, instance, a, b)"
                    f" (max_over_time(({not_up})[$__range:$__interval]) > 0)"
                ],
            ),
            timeseries.Panel()
            .title("Highest link RTT (mean of fresh probes)")
            .datasource(PROMETHEUS)
            .span(12)
            .height(9)
            .with_target(prom(f"topk(10, dcmon_link_rtt_seconds{{{JOB}}})", "{{a}} -- {{b}}"))
            .unit("s"),
            timeseries.Panel()
            .title("Highest link loss (mean of fresh probes)")
            .datasource(PROMETHEUS)
            .span(12)
            .height(9)
            .with_target(prom(f"topk(10, dcmon_link_loss_ratio{{{JOB}}} > 0)", "{{a}} -- {{b}}"))
            .unit("percentunit"),
            table.Panel()
            .title("Bridge links (single points of failure) and their dependents")
            .datasource(PROMETHEUS)
            .span(24)
            .height(8)
            .with_target(
                prom(
                    f"dcmon_link_dependents{{{JOB}}} and on (job, instance, a, b)"
                    f" (dcmon_link_bridge{{{JOB}}} == 1)",
                    instant=True,
                    table=True,
                )
            )
            .with_transformation(
                organize("Time", "job", "instance", "__name__", renamed={"Value": "dependents"})
            ),
        ],
        [center],
    )
