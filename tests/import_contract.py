"""The import contract of docs/architecture.md, checked from the source (AST, nothing imported).

Layers, highest first; a module may import its own layer and the layers below it, never above,
and the two packages of one layer never import each other:

    monitor.commands
    monitor.demo
    monitor.service | monitor.simulation
    monitor.status
    monitor.config | monitor.registry
    agents              (imports nothing from monitor: a center installs the agent alone)

The pure core (``monitor.status``), with everything it imports from the project, uses no I/O
library, and no module graph of ``monitor`` and ``agents`` has a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

LAYERS: tuple[tuple[str, ...], ...] = (
    ("monitor.commands",),
    ("monitor.demo",),
    ("monitor.service", "monitor.simulation"),
    ("monitor.status",),
    ("monitor.config", "monitor.registry"),
    ("agents",),
)
PURE_CORE = "monitor.status"
IO_LIBRARIES: frozenset[str] = frozenset(
    {
        "asyncio",
        "aiohttp",
        "aiomqtt",
        "paho",
        "prometheus_client",
        "socket",
        "ssl",
        "subprocess",
        "threading",
        "concurrent",
        "sqlite3",
        "urllib",
        "http",
    }
)
PACKAGES = ("monitor", "agents")


@dataclass(frozen=True)
class Violation:
    """One broken rule: which module, what it imports, and why that is not allowed."""

    module: str
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.module} imports {self.imported}: {self.rule}"


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """Every module name an import statement anywhere in ``tree`` refers to."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            # ``from monitor.status import palette`` imports the submodule too.
            yield from (f"{target}.{alias.name}" for alias in node.names)


def import_graph(root: Path) -> nx.DiGraph:
    """Module -> imported module, for every module of ``monitor`` and ``agents`` under ``root``.

    Edges to project modules point at modules that exist; other imports keep their top-level
    name (``asyncio``, ``aiohttp``) so the I/O rule can see them.
    """
    files = {
        _module_name(root, path): path
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
    }
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target in _imports(tree, module, path.name == "__init__.py"):
            top = target.split(".")[0]
            if top in PACKAGES:
                if target in files and target != module:
                    graph.add_edge(module, target)
            elif target:
                graph.add_edge(module, top)
    return graph


def _layer_of(module: str) -> tuple[int, str] | None:
    for depth, layer in enumerate(LAYERS):
        for package in layer:
            if module == package or module.startswith(package + "."):
                return depth, package
    return None


def violations(root: Path) -> list[Violation]:
    """Every broken rule of the contract in the source tree at ``root``."""
    graph = import_graph(root)
    found: list[Violation] = []
    for module, imported in graph.edges:
        mine, theirs = _layer_of(module), _layer_of(imported)
        if mine is None or theirs is None:
            continue
        if theirs[0] < mine[0]:
            found.append(Violation(module, imported, f"{mine[1]} may not import a higher layer"))
        elif theirs[0] == mine[0] and theirs[1] != mine[1]:
            found.append(Violation(module, imported, f"{mine[1]} and {theirs[1]} are siblings"))
    core = [m for m in graph if m == PURE_CORE or m.startswith(PURE_CORE + ".")]
    for module in core:
        for reached in nx.descendants(graph, module) | {module}:
            for library in IO_LIBRARIES & set(graph.successors(reached)):
                via = "" if reached == module else f" (via {reached})"
                found.append(Violation(module, library, f"the pure core does no I/O{via}"))
    project = graph.subgraph([m for m in graph if m.split(".")[0] in PACKAGES])
    for cycle in nx.simple_cycles(project):
        found.append(Violation(cycle[0], " -> ".join([*cycle[1:], cycle[0]]), "import cycle"))
    return found
