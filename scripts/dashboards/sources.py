"""The datasources the dashboards query, and typed queries for each.

The uids are those of ``grafana/provisioning/datasources/dcmon.yml``; a test checks every
reference against that file. Prometheus queries use the SDK's own model; the Infinity plugin
(``yesoreyeram-infinity-datasource``, the aggregator's JSON API) has no model in the SDK, so
``InfinityQuery`` is one, registered with the SDK's runtime so that dashboards load back typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Self

from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

PROMETHEUS = model.DataSourceRef(type_val="prometheus", uid="dcmon-prometheus")
INFINITY_TYPE = "yesoreyeram-infinity-datasource"
API = model.DataSourceRef(type_val=INFINITY_TYPE, uid="dcmon-api")
JOB = 'job="dcmon"'
"""The scrape job of config/prometheus/prometheus.yml: every PromQL selector names it."""

InfinityFormat = Literal["table", "node-graph-nodes", "node-graph-edges"]
ColumnType = Literal["string", "number", "timestamp_epoch_s"]


def prom(
    expr: str, legend: str = "", *, instant: bool = False, table: bool = False
) -> prometheus.Dataquery:
    """A Prometheus query (range unless ``instant``; a table frame with ``table``)."""
    query = prometheus.Dataquery().expr(expr).datasource(PROMETHEUS)
    query = query.instant() if instant else query.range()
    if legend:
        query = query.legend_format(legend)
    if table:
        query = query.format(PromQueryFormat.TABLE)
    return query


@dataclass(frozen=True)
class Column:
    """One column an Infinity query extracts: a JSON path, its title and its type."""

    selector: str
    text: str
    kind: ColumnType = "string"

    def to_json(self) -> dict[str, object]:
        """Infinity's column JSON."""
        return {"selector": self.selector, "text": self.text, "type": self.kind}


@dataclass
class InfinityQuery(cogvariants.Dataquery):
    """A GET of the aggregator's JSON API through the Infinity datasource (backend parser)."""

    url: str = ""
    root_selector: str = ""
    format: InfinityFormat = "table"
    columns: list[Column] = field(default_factory=list)
    ref_id: str = ""

    def to_json(self) -> dict[str, object]:
        """Infinity's query JSON (plugin v2 and later)."""
        return {
            "refId": self.ref_id,
            "datasource": API,
            "type": "json",
            "source": "url",
            "parser": "backend",
            "format": self.format,
            "url": self.url,
            "url_options": {"method": "GET"},
            "root_selector": self.root_selector,
            "columns": [column.to_json() for column in self.columns],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Load a query back from the dashboard JSON."""
        return cls(
            url=data["url"],
            root_selector=data.get("root_selector", ""),
            format=data["format"],
            columns=[Column(c["selector"], c["text"], c["type"]) for c in data["columns"]],
            ref_id=data.get("refId", ""),
        )


class Infinity(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder of an ``InfinityQuery``, in the SDK's style."""

    def __init__(self, url: str, root_selector: str = "") -> None:
        self._internal = InfinityQuery(url=url, root_selector=root_selector)

    def build(self) -> InfinityQuery:
        """The query."""
        return self._internal

    def format(self, format_val: InfinityFormat) -> Self:
        """The frame kind to produce."""
        self._internal.format = format_val
        return self

    def column(self, selector: str, text: str, kind: ColumnType = "string") -> Self:
        """Add a column."""
        self._internal.columns.append(Column(selector, text, kind))
        return self

    def ref_id(self, ref_id: str) -> Self:
        """The query's refId."""
        self._internal.ref_id = ref_id
        return self


class InfinityAnnotationTarget(model.AnnotationTarget):
    """An annotation whose events come from an Infinity query (the SDK types only Grafana's)."""

    def __init__(self, query: InfinityQuery) -> None:
        super().__init__()
        self.query = query

    def to_json(self) -> dict[str, object]:
        """The query as the annotation's target."""
        return self.query.to_json()


class InfinityAnnotation(cogbuilder.Builder[model.AnnotationTarget]):
    """Builder of an ``InfinityAnnotationTarget``."""

    def __init__(self, query: Infinity) -> None:
        self._internal = InfinityAnnotationTarget(query.build())

    def build(self) -> model.AnnotationTarget:
        """The target."""
        return self._internal


def register_infinity() -> None:
    """Teach the SDK's runtime to load Infinity queries (it knows only core datasources)."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=INFINITY_TYPE, from_json_hook=InfinityQuery.from_json)
    )
