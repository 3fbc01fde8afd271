"""The HTTP API on a real server (port 0): answers, 400/404, SSE, and schemathesis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import Case
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from agents.protocol import Capacity, MessageKind, Resource, center_topic, encode
from monitor.registry import load_registry
from monitor.service.aggregator import Aggregator
from monitor.service.views import link_json, nodegraph_json
from tests.aggregator_harness import (
    LiveAggregator,
    aggregator_config,
    eventually,
    running_centers,
    write_small_topology,
)
from tests.services import Mosquitto

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/centers?status=sideways", "status"),
        ("/api/v1/centers?tier=hcp", "tier"),
        ("/api/v1/links?state=wobbly", "state"),
        ("/api/v1/topology?format=svg", "format"),
        ("/api/v1/capacity?resource=unicorns&from=ndc-a", "resource"),
        ("/api/v1/capacity?resource=gpus&from=ndc-a&min=-1", "min"),
        ("/api/v1/capacity?resource=gpus&from=nowhere", "from"),
        ("/api/v1/capacity?resource=gpus", "from"),
        ("/api/v1/capacity?min=3", "min"),
        ("/api/v1/capacity?resource=gpus&from=ndc-a&max_rtt_ms=fast", "max_rtt_ms"),
        ("/api/v1/events?since=yesterday", "since"),
        ("/api/v1/events?limit=0", "limit"),
        ("/api/v1/centers?region=nowhere", "region"),
        ("/api/v1/capacity?resource=gpus&from=ndc-a&min=1_000", "min"),
        ("/api/v1/capacity?resource=gpus&from=ndc-a&min=%EF%BC%91%EF%BC%90", "min"),  # full-width
        ("/api/v1/capacity?resource=gpus&from=ndc-a&min=1e3", "min"),
        ("/api/v1/capacity?resource=gpus&resource=cpu_cores&from=ndc-a", "resource"),
        ("/api/v1/capacity?resource=gpus&from=ndc-a&from=ndc-b", "from"),
        ("/api/v1/events?limit=%D9%A3", "limit"),  # Arabic-Indic three
        ("/api/v1/events?since=1.5", "since"),
        ("/api/v1/events?type=alarm", "type"),
        ("/api/v1/incidents?state=closed", "state"),
        ("/api/v1/incidents?state=open&state=all", "state"),
        ("/api/v1/incidents?severity=major", "severity"),
        ("/api/v1/incidents?since=yesterday", "since"),
        ("/api/v1/incidents?until=-5", "until"),
        ("/api/v1/incidents?since=200&until=100", "until"),
        ("/api/v1/incidents?limit=0", "limit"),
        ("/api/v1/incidents?limit=2.5", "limit"),
        ("/api/v1/incidents?limit=100001", "limit"),
    ],
)
async def test_bad_parameters_get_400_naming_them(
    mosquitto: Mosquitto, tmp_path: Path, path: str, parameter: str
) -> None:
    """A bad query parameter is a 400 whose JSON error names the parameter."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        status, body = await asyncio.to_thread(live.get, path)
        assert status == 400
        assert json.loads(body)["parameter"] == parameter


def test_before_the_first_evaluation_every_link_reads_unknown(tmp_path: Path) -> None:
    """The initial snapshot holds no links: the API shows each registered link as unknown."""
    registry = load_registry(write_small_topology(tmp_path))
    aggregator = Aggregator(aggregator_config("mqtt://127.0.0.1:1", tmp_path / "t.yaml"), registry)
    snapshot = aggregator.snapshot
    assert snapshot.generation == 0
    links = [link_json(spec, snapshot) for spec in registry.links]
    assert [(entry["state"], entry["usable"], entry["rtt_s"]) for entry in links] == [
        ("unknown", False, None)
    ] * len(registry.links)
    edges = nodegraph_json(snapshot, registry)["edges"]
    assert {edge["mainStat"] for edge in edges} == {"unknown"}


async def test_api_answers_about_centers_links_topology_and_capacity(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Filters, detail with links, 404, node-link and Node Graph, SPOF and capacity candidates."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        async with running_centers(mosquitto.port) as agents:
            gpus = Resource(total=8, available=6)
            for center in ("ndc-b", "prov-d"):
                report = Capacity(session=agents.session, seq=10_000, ts=0.0, gpus=gpus)
                await agents.client.publish(
                    # Retained, as the protocol says: the aggregator may still be subscribing.
                    center_topic(center, MessageKind.CAPACITY),
                    encode(report),
                    qos=1,
                    retain=True,
                )
            await eventually(lambda: live.statuses()["prov-d"] in {"connected", "degraded"})
            await eventually(
                lambda: live.json("/api/v1/capacity")["all"]["gpus"]["available"] == 12
            )
            national = live.json("/api/v1/centers?tier=national")
            assert [c["id"] for c in national["centers"]] == ["ndc-a", "ndc-b"]
            regional = live.json("/api/v1/centers?region=south")["centers"]
            assert regional
            assert all(c["region"] == "south" for c in regional)
            detail = live.json("/api/v1/centers/prov-d")["center"]
            assert detail["status"] == "degraded"  # hangs off ndc-b alone
            assert [link["peer"] for link in detail["links"]] == ["ndc-b"]
            assert live.get("/api/v1/centers/atlantis")[0] == 404
            topology = live.json("/api/v1/topology")
            assert len(topology["nodes"]) == 4
            assert len(topology["links"]) == 4
            graph = live.json("/api/v1/topology?format=nodegraph")
            assert {e["id"] for e in graph["edges"]} >= {"ndc-b--prov-d"}
            spof = live.json("/api/v1/spof")
            assert {"a": "ndc-b", "b": "prov-d"}.items() <= spof["links"][0].items()
            found = live.json("/api/v1/capacity?resource=gpus&min=5&from=ndc-a")["candidates"]
            by_center = {c["center"]: c for c in found}
            assert by_center["prov-d"]["path"] == ["ndc-a", "ndc-b", "prov-d"]
            assert by_center["prov-d"]["hops"] == 2
            assert by_center["prov-d"]["bottleneck_gbps"] == 10
            assert live.get("/healthz")[0] == 200
            assert live.get("/readyz")[0] == 200


async def test_event_stream_sends_status_transitions(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """/api/v1/events/stream delivers `event: status` as centers change."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        async with (
            aiohttp.ClientSession() as session,
            session.get(live.url + "/api/v1/events/stream") as response,
        ):
            assert response.headers["Content-Type"].startswith("text/event-stream")
            async with running_centers(mosquitto.port):
                lines: list[str] = []
                async with asyncio.timeout(20):
                    while "event: status" not in lines:
                        lines.append((await response.content.readline()).decode().strip())
                data = await response.content.readline()
                event = json.loads(data.decode().removeprefix("data: "))
                assert event["old"] == "unknown"
                assert event["center"] in {"ndc-a", "ndc-b", "prov-c", "prov-d"}


def _run_schemathesis(base_url: str) -> None:
    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    operations = schema.exclude(path="/api/v1/events/stream").get_all_operations()
    for result in operations:
        assert isinstance(result, Ok), result
        operation = result.ok()

        @hypothesis.settings(
            max_examples=30,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy())
        def check(case: Case[Any]) -> None:
            # Which parameters need which others (from= needs resource=, ...) is beyond what
            # OpenAPI can state, so a schema-valid request may rightly get a 400.
            case.call_and_validate(base_url=base_url, excluded_checks=[positive_data_acceptance])

        check()


async def test_openapi_document_matches_the_api(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """schemathesis: every documented operation answers as /openapi.json says, with an incident
    open (a cut link) and events of every type in the log."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        async with running_centers(mosquitto.port) as agents:
            await eventually(lambda: live.statuses()["prov-d"] != "unknown")
            agents.unreachable |= {("ndc-a", "prov-c"), ("prov-c", "ndc-a")}
            await agents.report_links("ndc-a")
            await agents.report_links("prov-c")
            await eventually(lambda: live.json("/api/v1/incidents")["count"] == 1)
            await asyncio.to_thread(_run_schemathesis, live.url)
