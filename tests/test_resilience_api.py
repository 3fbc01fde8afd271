"""The resilience ranking and the link suggestions over the real HTTP API and ``dcmon
resilience`` (DESIGN §10): answers, the 202-with-progress of a long k=2 run at 1,000 centers,
its cancellation, a loop that keeps answering meanwhile, and bad parameters named."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.engine_evaluation import synthetic_registry
from monitor.registry import load_registry
from tests.aggregator_harness import LiveAggregator, aggregator_config, write_small_topology
from tests.services import Mosquitto, wait_until

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parent.parent


def call(url: str, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def dcmon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_small_federation_s_worst_failures_and_the_link_that_helps(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """ndc-b is the worst single failure (prov-d hangs on it); cutting ndc-a off is the worst
    pair (the core is then ndc-a alone, the first listed of two equal groups: DESIGN §2); the
    first suggested link gives prov-d a second way to the core (its nearest single point of
    failure is its one link). No agent needs to run: the ranking starts from the healthy
    federation."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        status, single = call(live.url + "/api/v1/resilience?k=1&limit=3")
        assert status == 200, single
        assert (single["state"], single["k"], single["base"]) == ("done", 1, "healthy")
        worst = single["failures"][0]
        assert worst["label"] == "ndc-b"
        assert worst["elements"] == [{"kind": "center", "id": "ndc-b"}]
        assert (worst["lost_core"], worst["lost_core_centers"]) == (1, ["prov-d"])
        assert worst["lost_core_by_tier"] == {"provincial": 1}
        assert len(single["failures"]) == 3
        status, double = call(live.url + "/api/v1/resilience?k=2&limit=1")
        assert status == 200
        assert double["failures"][0]["label"] == "ndc-a--ndc-b + ndc-a--prov-c"
        assert double["failures"][0]["lost_core_centers"] == ["ndc-b", "prov-c", "prov-d"]
        status, suggested = call(live.url + "/api/v1/resilience/suggestions?max_links=2")
        assert status == 200
        first = suggested["suggestions"][0]
        assert "prov-d" in (first["a"], first["b"])
        assert first["distance_km"] > 0
        assert {"kind": "redundancy", "center": "prov-d", "single_point": "ndc-b--prov-d"} in (
            first["fixes"]
        )


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("/api/v1/resilience?k=3", "k"),
        ("/api/v1/resilience?k=0", "k"),
        ("/api/v1/resilience?limit=0", "limit"),
        ("/api/v1/resilience?limit=101", "limit"),
        ("/api/v1/resilience?k=1&k=2", "k"),
        ("/api/v1/resilience/suggestions?max_links=0", "max_links"),
        ("/api/v1/resilience/suggestions?max_links=21", "max_links"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(
    mosquitto: Mosquitto, tmp_path: Path, query: str, parameter: str
) -> None:
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        status, answer = call(live.url + query)
        assert (status, answer["parameter"]) == (400, parameter)


def test_a_long_ranking_reports_progress_can_be_cancelled_and_never_stalls_the_api(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """k=2 over 1,000 centers runs in a worker thread: the API answers 202 with a growing
    progress, /healthz stays quick meanwhile, DELETE stops it, and asking again starts anew."""
    topology = tmp_path / "big.yaml"
    registry = synthetic_registry(1000)
    topology.write_text(
        yaml.safe_dump(
            {
                "centers": [
                    {
                        "id": c.id,
                        "name": c.name,
                        "tier": c.tier,
                        "region": c.region,
                        "location": {"lat": c.location.lat, "lon": c.location.lon},
                    }
                    for c in registry.centers
                ],
                "links": [
                    {"a": link.a, "b": link.b, "bandwidth_gbps": link.bandwidth_gbps}
                    for link in registry.links
                ],
            }
        ),
        encoding="utf-8",
    )
    assert len(load_registry(topology).centers) == len(registry.centers)
    with LiveAggregator(aggregator_config(mosquitto.url, topology)) as live:
        status, first = call(live.url + "/api/v1/resilience?k=2")
        assert status == 202, first
        assert (first["state"], first["failures"]) == ("running", [])
        progress: list[float] = [first["progress"]]
        slowest = 0.0

        def moved() -> bool:
            nonlocal slowest
            started = time.perf_counter()
            assert call(live.url + "/healthz")[0] == 200
            slowest = max(slowest, time.perf_counter() - started)
            progress.append(float(call(live.url + "/api/v1/resilience?k=2")[1]["progress"]))
            return progress[-1] > progress[0]

        wait_until(moved, timeout_s=120, interval_s=0.5)
        assert slowest < 5.0  # generous: a stalled loop would not answer for the whole run
        status, _ = call(live.url + "/api/v1/resilience?k=2", method="DELETE")
        assert status == 200
        aggregator = live.aggregator
        assert aggregator is not None
        wait_until(lambda: aggregator.planning.state("k2") == "cancelled", timeout_s=30)
        status, again = call(live.url + "/api/v1/resilience?k=2")
        assert (status, again["state"]) == (202, "running")  # a new run
        assert again["progress"] < progress[-1] or again["progress"] == 0.0
        assert call(live.url + "/api/v1/resilience?k=1", method="DELETE")[0] == 404


def test_dcmon_resilience_prints_the_ranking_and_the_suggestions(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        ranking = dcmon("resilience", "--url", live.url, "--k", "2", "--limit", "2")
        assert ranking.returncode == 0, ranking.stderr
        lines = ranking.stdout.splitlines()
        assert lines[0].startswith("Worst double failures of the healthy federation (")
        assert lines[1].split() == [
            "RANK",
            "FAILURE",
            "LOSE",
            "CORE",
            "BY",
            "TIER",
            "CAPACITY",
            "UNREACHABLE",
            "LOSE",
            "REDUNDANCY",
        ]
        assert lines[2].split()[:5] == ["1", "ndc-a--ndc-b", "+", "ndc-a--prov-c", "3"]
        suggested = dcmon("resilience", "--url", live.url, "--suggest", "1")
        assert suggested.returncode == 0, suggested.stderr
        assert suggested.stdout.startswith("Suggested new links")
        assert (
            "frees 1 center from a single point of failure: ndc-b--prov-d (1)" in suggested.stdout
        )
        as_json = json.loads(dcmon("resilience", "--url", live.url, "--json").stdout)
        assert as_json["failures"][0]["label"] == "ndc-b"
        bad = dcmon("resilience", "--url", live.url, "--limit", "500")
        assert bad.returncode == 1
        assert "limit" in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
