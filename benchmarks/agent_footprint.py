"""Footprint of an idle agent: RSS and CPU with a 5 s heartbeat and 4 peers.

Measured against a baseline taken in the same run: a bare Python process that only imports
aiomqtt and holds one MQTT connection. Budget: <= 40 MB RSS and <= 1 % of one core.

    python -m benchmarks.agent_footprint [--duration 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.services import Mosquitto, free_port, wait_for_port

REPO = Path(__file__).resolve().parent.parent
RSS_BUDGET_MB = 40.0
CPU_BUDGET_PERCENT = 1.0

BASELINE = """
import asyncio, sys, aiomqtt
async def main():
    async with aiomqtt.Client("127.0.0.1", int(sys.argv[1]), identifier="baseline", keepalive=10):
        await asyncio.sleep(3600)
asyncio.run(main())
"""

PEERS = """
import asyncio, sys
from agents.probe import ProbeResponder
async def main():
    for port in sys.argv[1:]:
        await ProbeResponder("127.0.0.1", int(port)).start()
    await asyncio.sleep(3600)
asyncio.run(main())
"""


@dataclass(frozen=True)
class Footprint:
    """What one process used over the measurement window."""

    rss_mb: float
    peak_rss_mb: float
    cpu_percent: float


def main() -> int:
    """Run the measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    args = parser.parse_args()

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto")
        broker.start()
        peer_ports = [free_port() for _ in range(4)]
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", PEERS, *map(str, peer_ports)],
                    env=env,
                    stderr=subprocess.DEVNULL,
                )
            )
            for port in peer_ports:
                wait_for_port(port)
            peers = [
                arg
                for i, port in enumerate(peer_ports)
                for arg in ("--peer", f"peer-{i}=127.0.0.1:{port}")
            ]
            agent = subprocess.Popen(
                [sys.executable, "-m", "agents", "--center", "hub-north", "--broker", broker.url,
                 "--heartbeat-interval", "5", "--probe-host", "127.0.0.1",
                 "--probe-port", str(free_port()), "--log-level", "WARNING", *peers],
                env=env,
            )  # fmt: skip
            baseline = subprocess.Popen([sys.executable, "-c", BASELINE, str(broker.port)], env=env)
            procs += [agent, baseline]
            time.sleep(args.warmup)
            for proc in procs:
                if proc.poll() is not None:
                    print(f"a process exited early (status {proc.returncode})", file=sys.stderr)
                    return 1
            print(f"measuring for {args.duration:g} s (after {args.warmup:g} s warm-up)...")
            # Measure both at once so they see the same machine load.
            base_fp, agent_fp = _measure_both(baseline.pid, agent.pid, args.duration)
        finally:
            for proc in procs:
                proc.kill()
                proc.wait(timeout=10)
            broker.stop()

    print(f"{'':24}{'RSS MB':>10}{'peak MB':>10}{'CPU % core':>12}")
    for name, fp in (("baseline (aiomqtt idle)", base_fp), ("dcmon-agent", agent_fp)):
        print(f"{name:24}{fp.rss_mb:10.1f}{fp.peak_rss_mb:10.1f}{fp.cpu_percent:12.3f}")
    print(
        f"agent / baseline: RSS x{agent_fp.rss_mb / base_fp.rss_mb:.2f}, "
        f"CPU +{agent_fp.cpu_percent - base_fp.cpu_percent:.3f} points"
    )
    ok = agent_fp.peak_rss_mb <= RSS_BUDGET_MB and agent_fp.cpu_percent <= CPU_BUDGET_PERCENT
    print(
        f"budget <= {RSS_BUDGET_MB:g} MB RSS, <= {CPU_BUDGET_PERCENT:g} % of one core: "
        f"{'within' if ok else 'OVER'}"
    )
    return 0 if ok else 1


def _measure_both(base_pid: int, agent_pid: int, duration_s: float) -> tuple[Footprint, Footprint]:
    base, agent = psutil.Process(base_pid), psutil.Process(agent_pid)
    cpu0 = [sum(p.cpu_times()[:2]) for p in (base, agent)]
    start = time.monotonic()
    peaks = [0, 0]
    while time.monotonic() - start < duration_s:
        for i, p in enumerate((base, agent)):
            peaks[i] = max(peaks[i], p.memory_info().rss)
        time.sleep(1.0)
    wall = time.monotonic() - start
    out = []
    for i, p in enumerate((base, agent)):
        rss = p.memory_info().rss
        cpu = sum(p.cpu_times()[:2]) - cpu0[i]
        out.append(Footprint(rss / 2**20, max(peaks[i], rss) / 2**20, 100 * cpu / wall))
    return out[0], out[1]


if __name__ == "__main__":
    sys.exit(main())
