"""Registry loading: the sample loads; every mistake is one line naming file and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
import yaml

from agents.errors import ConfigError
from monitor.registry import load_registry, parse_registry

REPO = Path(__file__).resolve().parent.parent


def _doc() -> dict[str, object]:
    return {
        "centers": [
            {
                "id": "ndc-a",
                "name": "A",
                "tier": "national",
                "region": "north",
                "location": {"lat": 21.0, "lon": 105.5},
            },
            {
                "id": "prov-b",
                "name": "B",
                "tier": "provincial",
                "region": "north",
                "location": {"lat": 21.5, "lon": 105.9},
            },
        ],
        "links": [{"a": "ndc-a", "b": "prov-b", "bandwidth_gbps": 10}],
    }


def test_sample_federation_covers_every_seed_place(registry_path: Path) -> None:
    """All 64 seed places have a provincial center, plus national, regional and HPC centers."""
    registry = load_registry(registry_path)
    places = (REPO / "config" / "places.csv").read_text(encoding="utf-8")
    slugs = [line.split(",")[1] for line in places.splitlines()[1:] if line]
    ids = set(registry.center_ids())
    assert len(slugs) == 64
    assert {f"prov-{s}" for s in slugs} <= ids
    tiers = {c.tier for c in registry.centers}
    assert tiers == {"national", "regional", "hpc", "provincial"}


def test_no_single_hub_failure_strands_a_province(registry_path: Path) -> None:
    """Protection rings hold: losing any one regional hub leaves the rest connected."""
    registry = load_registry(registry_path)
    graph = nx.Graph([link.key for link in registry.links])
    for hub in (c.id for c in registry.centers if c.tier == "regional"):
        cut = graph.copy()
        cut.remove_node(hub)
        assert nx.is_connected(cut), f"losing {hub} strands centers"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["centers"][0].update(tier="hcp"),
            "centers[0].tier: 'hcp' is not one of national, regional, hpc, provincial",
        ),
        (lambda d: d["centers"][1].update(colour="red"), "centers[1].colour: unknown key"),
        (
            lambda d: d["centers"][1].update(id="ndc-a"),
            "centers[1].id: duplicate center id 'ndc-a'",
        ),
        (lambda d: d["centers"][1].update(id="Prov/B"), "centers[1].id: 'Prov/B' is not a valid"),
        (lambda d: d["links"][0].update(b="nowhere"), "links[0].b: unknown center 'nowhere'"),
        (lambda d: d["links"][0].update(b="ndc-a"), "links[0]: self-link on 'ndc-a'"),
        (
            lambda d: d["links"].append({"a": "prov-b", "b": "ndc-a", "bandwidth_gbps": 1}),
            "links[1]: duplicate link prov-b - ndc-a",
        ),
        (
            lambda d: d["centers"][0]["location"].update(lat=91),
            "centers[0].location.lat: expected a number <= 90",
        ),
        (
            lambda d: d["centers"][0]["location"].update(lon=-181),
            "centers[0].location.lon: expected a number >= -180",
        ),
        (lambda d: d["centers"][0].pop("name"), "centers[0].name: required key is missing"),
        (
            lambda d: d["links"][0].update(bandwidth_gbps="fast"),
            "links[0].bandwidth_gbps: expected a number, got a string",
        ),
    ],
)
def test_registry_mistakes_name_the_field(mutate: object, expected: str) -> None:
    """Each kind of mistake raises one error naming the file and the field path."""
    doc = _doc()
    assert callable(mutate)
    mutate(doc)
    with pytest.raises(ConfigError) as info:
        parse_registry(doc, "topology.yaml")
    assert str(info.value).startswith(f"topology.yaml: {expected}")


def test_check_config_prints_summary_and_exits_zero(registry_path: Path) -> None:
    """`dcmon check-config` on the sample prints centers per tier and region and the link count."""
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", str(registry_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "72 centers (national 2, regional 3, hpc 3, provincial 64)" in result.stdout
    assert "147 links" in result.stdout


def test_check_config_misspelt_tier_is_one_line_and_exit_1(
    registry_path: Path, tmp_path: Path
) -> None:
    """A misspelt tier gives exactly one line naming the field, no traceback, exit 1."""
    bad = tmp_path / "topology.yaml"
    bad.write_text(
        registry_path.read_text(encoding="utf-8").replace("tier: hpc", "tier: hcp", 1),
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "tier: 'hcp' is not one of national, regional, hpc, provincial" in lines[0]
    assert str(bad) in lines[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("centers: [\n", "invalid YAML at line"),
        ("", "the file is empty"),
        ("- 1\n", "expected a mapping at the top level"),
    ],
)
def test_check_config_broken_files(tmp_path: Path, text: str, expected: str) -> None:
    """Unparseable, empty and wrongly-shaped files are reported, not crashed on."""
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_registry_neighbours_follow_links() -> None:
    """A center's neighbours are the other ends of its links."""
    registry = parse_registry(yaml.safe_load(yaml.safe_dump(_doc())), "t.yaml")
    assert registry.neighbours("prov-b") == ("ndc-a",)


def test_neighbours_of_every_center_follow_link_order() -> None:
    """Every center has its neighbours listed in registry-link order, even one with no links."""
    ids = ("ndc-a", "prov-b", "hpc-c", "prov-lone")
    doc = {
        "centers": [
            {
                "id": cid,
                "name": cid.upper(),
                "tier": "national",
                "region": "north",
                "location": {"lat": 21.0, "lon": 105.0 + i / 10},
            }
            for i, cid in enumerate(ids)
        ],
        "links": [
            {"a": a, "b": b, "bandwidth_gbps": 10}
            for a, b in (("ndc-a", "prov-b"), ("hpc-c", "ndc-a"), ("prov-b", "hpc-c"))
        ],
    }
    registry = parse_registry(doc, "t.yaml")
    assert registry.adjacency() == {
        "ndc-a": ("prov-b", "hpc-c"),
        "prov-b": ("ndc-a", "hpc-c"),
        "hpc-c": ("ndc-a", "prov-b"),
        "prov-lone": (),
    }
    assert registry.neighbours("hpc-c") == ("ndc-a", "prov-b")
    assert registry.neighbours("not-registered") == ()


def test_centers_are_found_by_id() -> None:
    """A registered center is looked up by its id; an unknown id is simply absent."""
    registry = parse_registry(_doc(), "t.yaml")
    assert registry.centers_by_id["prov-b"].name == "B"
    assert list(registry.centers_by_id) == list(registry.center_ids())
    assert "nowhere" not in registry.centers_by_id
