"""Write the Grafana dashboards (``grafana/dashboards/*.json``) from their typed code.

Usage: ``python -m scripts.build_dashboards [OUTPUT_DIR]`` (default ``grafana/dashboards``), in
the dev environment (``grafana-foundation-sdk`` is a dev dependency). The dashboards themselves
are in ``scripts/dashboards/``; the status colours come from ``monitor/status/palette.py`` and the
runbook dashboard from ``docs/runbook.md``, so rerun this after editing any of them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scripts.dashboards import DASHBOARDS, render


def write_dashboards(out: Path) -> list[Path]:
    """Write every dashboard into ``out``; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in DASHBOARDS.items():
        path = out / name
        path.write_text(render(build), encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    """Write every dashboard into the output directory."""
    for path in write_dashboards(Path(sys.argv[1] if len(sys.argv) > 1 else "grafana/dashboards")):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
