"""Plain-text tables for a terminal: left-aligned columns, numbers right-aligned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from monitor.commands.units import human_amount

Cell = str | int | float | None


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """A table with a header line; ``None`` cells are shown as ``-``."""
    text_rows = [[_text(cell) for cell in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(r[i]) for r in text_rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if numeric[i] else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), *(line(r) for r in text_rows)])


def _text(cell: Cell) -> str:
    if cell is None:
        return "-"
    if isinstance(cell, float):
        return f"{cell:,.1f}" if abs(cell) < 1e15 else f"{cell:.3g}"
    if isinstance(cell, int):
        return f"{cell:,}"
    return cell


RESOURCE_NOUNS: Final = {
    "cpu_cores": "cores",
    "gpus": "GPUs",
    "memory_bytes": "memory",
    "storage_bytes": "storage",
}


def human_capacity(amounts: Mapping[str, object]) -> str | None:
    """``{"gpus": 16, "storage_bytes": 1e15}`` → ``16 GPUs, 1.0 PB storage``; None when empty."""
    parts = []
    for resource, value in amounts.items():
        if isinstance(value, int | float) and value:
            noun = RESOURCE_NOUNS.get(resource, resource)
            parts.append(f"{human_amount(resource, value)} {noun}")
    return ", ".join(parts) or None


def human_duration(seconds: float) -> str:
    """``42s``, ``3m 05s``, ``2h 10m``, ``3d 4h``: the two largest units."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"
