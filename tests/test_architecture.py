"""The layers of docs/architecture.md hold: checked from the source on every run."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.import_contract import import_graph, violations

REPO = Path(__file__).resolve().parent.parent


def _copy_of_the_project(tmp_path: Path) -> Path:
    for package in ("monitor", "agents"):
        shutil.copytree(REPO / package, tmp_path / package)
    return tmp_path


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_shipped_tree_keeps_the_import_contract() -> None:
    """No layer imports a higher one, the core does no I/O, and there is no import cycle."""
    assert [str(v) for v in violations(REPO)] == []


def test_the_contract_sees_the_whole_project() -> None:
    """The checker reads every module, including imports inside functions."""
    graph = import_graph(REPO)
    assert "monitor.status.engine" in graph
    assert "agents.protocol" in graph
    assert graph.has_edge("monitor.service.serve", "monitor.service.http")
    assert graph.has_edge("monitor.status.planner", "networkx")  # imported inside a function


def test_a_core_module_importing_asyncio_breaks_the_contract(tmp_path: Path) -> None:
    """Adding ``import asyncio`` to the status core is reported, naming the module."""
    root = _copy_of_the_project(tmp_path)
    _append(root / "monitor" / "status" / "evaluation.py", "import asyncio")
    found = [str(v) for v in violations(root)]
    assert "monitor.status.evaluation imports asyncio: the pure core does no I/O" in found


def test_a_core_module_importing_aiohttp_inside_a_function_breaks_the_contract(
    tmp_path: Path,
) -> None:
    """A late ``from aiohttp import web`` in the core is as much a violation as a top one."""
    root = _copy_of_the_project(tmp_path)
    _append(
        root / "monitor" / "status" / "graph.py",
        "def _late() -> None:\n    from aiohttp import web  # noqa\n",
    )
    found = [str(v) for v in violations(root)]
    assert "monitor.status.graph imports aiohttp: the pure core does no I/O" in found


def test_the_core_importing_the_service_is_reported_as_a_layer_break_and_a_cycle(
    tmp_path: Path,
) -> None:
    """The status core may not import the service layer (and here that also closes a cycle)."""
    root = _copy_of_the_project(tmp_path)
    _append(root / "monitor" / "status" / "model.py", "from monitor.service import http")
    found = violations(root)
    rules = {v.rule for v in found if v.module == "monitor.status.model"}
    assert "monitor.status may not import a higher layer" in rules
    assert any(v.rule == "import cycle" for v in found)


def test_the_agent_importing_the_monitor_breaks_the_contract(tmp_path: Path) -> None:
    """``agents`` installs alone on a center: it may not import anything from ``monitor``."""
    root = _copy_of_the_project(tmp_path)
    _append(root / "agents" / "probe.py", "from monitor.status.model import link_key")
    found = [str(v) for v in violations(root)]
    assert (
        "agents.probe imports monitor.status.model: agents may not import a higher layer" in found
    )
