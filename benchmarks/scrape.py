"""A scrape from another process, as Prometheus would do it (shared by the benchmarks)."""

from __future__ import annotations

import asyncio


async def curl(url: str) -> int:
    """GET ``url`` with curl, in another process (so the client shares neither this event loop
    nor this process's memory); returns the body's size in bytes."""
    process = await asyncio.create_subprocess_exec(
        "curl",
        "-sf",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        url,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"curl {url} failed with exit code {process.returncode}")
    return int(out)
