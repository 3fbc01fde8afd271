"""What-if is exact (DESIGN §10), end to end in ``dcmon demo``: ask first, then inject the same
faults into the simulated federation and compare what the aggregator reports.

Statuses, link states, connected ratios, the incidents, which centers' capacity counts and the
total capacity must be equal. The *available* amounts are not compared: the simulator's jobs
start and end every few seconds, so they move between the question and the fault whatever dcmon
does (the what-if sums them exactly as the live figures are summed: ``tests/test_whatif.py``
checks that on a federation whose capacity holds still).
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.services import wait_until
from tests.test_demo import (
    REPO,
    Demo,
    all_connected,
    dcmon,
    get_json,
    post_fault,
    start_demo,
    statuses,
    stop_demo,
)

pytestmark = pytest.mark.integration

SAMPLE = yaml.safe_load((REPO / "config" / "topology.yaml").read_text(encoding="utf-8"))
REGION = {c["id"]: c["region"] for c in SAMPLE["centers"]}


def leaving(region: str) -> list[list[str]]:
    """The registered links between ``region`` and the others (what ``partition`` cuts)."""
    return [
        [link["a"], link["b"]]
        for link in SAMPLE["links"]
        if (REGION[link["a"]] == region) != (REGION[link["b"]] == region)
    ]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = start_demo(tmp_path_factory.mktemp("whatif-demo"))
    try:
        yield running
    finally:
        stop_demo(running)


def ask(demo: Demo, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        demo.url + "/api/v1/whatif",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def ratios(demo: Demo) -> dict[str, float]:
    with urllib.request.urlopen(demo.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r'^dcmon_federation_connected_ratio\{tier="(\w+)"\} (\S+)$', text, re.M
        )
    }


def link_states(demo: Demo) -> dict[str, str]:
    return {f"{x['a']}--{x['b']}": x["state"] for x in get_json(demo.url, "/api/v1/links")["links"]}


def incident_shapes(incidents: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            i["kind"],
            i["severity"],
            json.dumps(i["elements"], sort_keys=True),
            tuple(sorted(v["center"] for v in i["victims"])),
        )
        for i in incidents
    )


def totals(capacity: dict[str, Any]) -> dict[str, float]:
    return {name: amount["total"] for name, amount in capacity.items()}


SCENARIOS: dict[str, tuple[dict[str, Any], list[tuple[str, ...]]]] = {
    "a hub fails": ({"down": ["hub-central"]}, [("down", "hub-central")]),
    "a region is cut off": ({"cut": leaving("central")}, [("partition", "central")]),
    "a double failure": (
        {"down": ["hub-central", "hpc-central"]},
        [("down", "hub-central"), ("down", "hpc-central")],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_prediction_is_what_the_aggregator_then_reports(demo: Demo, name: str) -> None:
    question, faults = SCENARIOS[name]
    wait_until(lambda: all_connected(demo.url), timeout_s=60, interval_s=0.25)
    predicted = ask(demo, question)
    assert predicted["changes"], "the scenario changes nothing: a useless test"
    planner = "/api/v1/capacity?" + urllib.parse.urlencode(
        {"resource": "gpus", "from": "prov-da-nang", "whatif_down": question.get("down", [])},
        doseq=True,
    )
    planned = get_json(demo.url, planner) if "down" in question else None
    assert all_connected(demo.url)  # asking changed nothing
    try:
        for fault, *args in faults:
            post_fault(demo.url, fault, *args)
        wait_until(lambda: statuses(demo.url) == predicted["centers"], timeout_s=90)
        assert link_states(demo) == predicted["links"]
        assert ratios(demo) == predicted["connected_ratio"]["after"]
        wait_until(
            lambda: (
                incident_shapes(get_json(demo.url, "/api/v1/incidents")["incidents"])
                == incident_shapes(predicted["incidents"])
            ),
            timeout_s=30,
        )
        capacity = get_json(demo.url, "/api/v1/capacity")
        assert totals(capacity["all"]) == totals(predicted["capacity"]["after"])
        if planned is not None:
            real = get_json(demo.url, planner.split("&whatif_down")[0])
            # The same centers (their order follows measured RTTs, which jitter).
            assert sorted(c["center"] for c in real["candidates"]) == sorted(
                c["center"] for c in planned["candidates"]
            )
            assert planned["centers"] == real["centers"]  # whose capacity counts
        assert statuses(demo.url) == predicted["centers"]  # still: it had settled
    finally:
        post_fault(demo.url, "heal")


def test_dcmon_capacity_answers_as_if_a_hub_had_failed(demo: Demo) -> None:
    """ "How many GPUs would still be reachable from Da Nang within 30 ms if hub-central
    failed?" — asked without failing anything."""
    wait_until(lambda: all_connected(demo.url), timeout_s=60, interval_s=0.25)
    query = ("--resource", "gpus", "--from", "prov-da-nang", "--max-rtt-ms", "30")
    now = json.loads(dcmon("capacity", "--url", demo.url, *query, "--json").stdout)
    result = dcmon("capacity", "--url", demo.url, *query, "--whatif-down", "hub-central", "--json")
    assert result.returncode == 0, result.stderr
    imagined = json.loads(result.stdout)
    assert imagined["whatif"]["down"] == ["hub-central"]
    assert "hub-central" in {c["center"] for c in now["candidates"]}
    assert "hub-central" not in {c["center"] for c in imagined["candidates"]}
    table = dcmon("capacity", "--url", demo.url, *query, "--whatif-down", "hub-central")
    assert table.stdout.startswith("As if: down hub-central (nothing changed for real)")
    assert statuses(demo.url)["hub-central"] in ("connected", "degraded")
    bad = dcmon("capacity", "--url", demo.url, *query, "--whatif-cut", "prov-da-nang", "ndc-north")
    assert bad.returncode == 1
    assert "--whatif-cut: prov-da-nang--ndc-north is not a registered link" in bad.stderr
