"""Plain-text tables for a terminal: left-aligned columns, numbers right-aligned."""

from __future__ import annotations

from collections.abc import Sequence

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


def human_amount(resource: str, value: float) -> str:
    """``storage_bytes`` 1.2e15 → ``1.2 PB``; cores and GPUs as plain integers."""
    if resource.endswith("_bytes"):
        for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
            if value >= size:
                return f"{value / size:,.1f} {unit}"
        return f"{value:,.0f} B"
    return f"{value:,.0f}"
