"""Status, link-state and severity colours as Grafana value mappings and overrides.

Every colour comes from ``monitor.status.palette``, the one palette the status page and the
Node Graph JSON read too; nothing here names a colour of a status.
"""

from __future__ import annotations

from collections.abc import Mapping

from grafana_foundation_sdk.models import dashboard as model

from monitor.status.model import LinkState, Status
from monitor.status.palette import LINK_COLOURS, STATUS_COLOURS

# Incident severities in the colours of what they mean: critical = someone lost the core (down),
# warning = someone lost redundancy (degraded), info = nobody lost anything yet.
SEVERITY_COLOURS: Mapping[str, str] = {
    "critical": STATUS_COLOURS["down"],
    "warning": STATUS_COLOURS["degraded"],
    "info": STATUS_COLOURS["unknown"],
}
# Link states as the numbers the state-timeline panels map back to text and colour.
LINK_STATE_CODES: tuple[LinkState, ...] = ("up", "asymmetric", "down", "unknown")


def text_mappings(colours: Mapping[Status, str] | Mapping[str, str]) -> list[model.ValueMapping]:
    """Value mappings giving each text value its colour."""
    return [
        model.ValueMap(
            options={
                text: model.ValueMappingResult(text=text, color=colour, index=i)
                for i, (text, colour) in enumerate(colours.items())
            }
        )
    ]


def status_mappings() -> list[model.ValueMapping]:
    """A center status (text) in its colour."""
    return text_mappings(STATUS_COLOURS)


def severity_mappings() -> list[model.ValueMapping]:
    """An incident severity (text) in its colour."""
    return text_mappings(SEVERITY_COLOURS)


def topology_mappings() -> list[model.ValueMapping]:
    """Center statuses and link states (the nodegraph frames' ``mainStat``) in their colours.

    The two share ``down`` and ``unknown``, which the palette gives the same colour.
    """
    colours: dict[str, str] = dict(STATUS_COLOURS.items())
    colours.update(LINK_COLOURS.items())
    return text_mappings(colours)


def link_state_code_mappings() -> list[model.ValueMapping]:
    """The link-state code (0 up ... 3 unknown) as its state's name and colour."""
    return [
        model.ValueMap(
            options={
                str(code): model.ValueMappingResult(
                    text=state, color=LINK_COLOURS[state], index=code
                )
                for code, state in enumerate(LINK_STATE_CODES)
            }
        )
    ]


def fixed_colour(colour: str) -> model.DynamicConfigValue:
    """An override property: this series in this colour."""
    return model.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": colour})


def coloured_cells(mappings: list[model.ValueMapping]) -> list[model.DynamicConfigValue]:
    """Override properties: the column's cells coloured by ``mappings``."""
    return [
        model.DynamicConfigValue(id_val="mappings", value=mappings),
        model.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}),
    ]
