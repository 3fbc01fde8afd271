"""``dcmon demo``: the whole system on one machine with no setup.

A broker (mosquitto, else the embedded iotcore), the aggregator in this process with short
intervals, and simulated agents for every center of the registry, all speaking the real wire
protocol through the real broker; the fault-injection API is mounted at ``/api/v1/demo/``.
Ctrl-C or SIGTERM stops the agents, then the aggregator, then the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from agents.broker import parse_broker_url
from agents.errors import DcmonError
from agents.lifecycle import cancel_and_wait, stop_on_signals
from agents.mqtt_compat import ignore_stale_socket_writers
from monitor.config import DEFAULT_LISTEN, AggregatorConfig, parse_listen
from monitor.demo.broker import DemoBroker, start_broker
from monitor.demo.faults import build_demo_app
from monitor.demo.supervise import keep_broker_alive, report_agent_outages
from monitor.registry import Registry, load_registry
from monitor.simulation.agent import Timing
from monitor.simulation.federation import Simulator

logger = logging.getLogger(__name__)

DEMO_TIMING: Final = Timing(
    heartbeat_interval_s=1.0, probe_interval_s=2.0, capacity_interval_s=5.0, heartbeat_misses=3
)
PROBE_FRESH_S: Final = 6.0
"""Three probe rounds: a probe older than that no longer counts."""
ALL_CONNECTED_WAIT_S: Final = 30.0


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run a broker, the aggregator and the simulated federation on this machine",
        description=(
            "The whole system with no setup: a broker (mosquitto if installed, else the "
            "embedded iotcore), the aggregator and simulated agents for every center, with "
            "fault injection (dcmon fault … --url). Stop with Ctrl-C."
        ),
    )
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"HTTP address of the status page, API and metrics (default {DEFAULT_LISTEN}, "
        "where the console commands look by default)",
    )
    parser.add_argument(
        "--topology",
        default="config/topology.yaml",
        metavar="FILE",
        help="the registry to simulate (default config/topology.yaml)",
    )
    parser.add_argument(
        "--broker-kind",
        choices=("auto", "mosquitto", "iotcore"),
        default="auto",
        help="which broker to start (auto: mosquitto when installed, else iotcore)",
    )
    parser.add_argument("--seed", type=int, default=None, help="reproducible noise and drift")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the broker, then run the aggregator and the simulator until Ctrl-C/SIGTERM."""
    host, port = parse_listen(args.listen, "--listen")
    registry = load_registry(args.topology)
    broker = start_broker(args.broker_kind)
    try:
        print(f"dcmon demo: broker {broker.description}", flush=True)
        return asyncio.run(
            _run(registry, broker, (host, port), seed=args.seed, topology=args.topology)
        )
    finally:
        broker.stop()
        print("dcmon demo: stopped (broker, aggregator and simulated agents)", flush=True)


def demo_config(
    broker_url: str, host: str, port: int, topology: str, state_store: str | None = None
) -> AggregatorConfig:
    """The aggregator's settings in the demo: short intervals, so all is seen within seconds."""
    return AggregatorConfig(
        state_store=state_store,
        instance="demo",
        broker=broker_url,
        topology=topology,
        listen=f"{host}:{port}",
        heartbeat_misses=DEMO_TIMING.heartbeat_misses,
        default_heartbeat_interval_s=DEMO_TIMING.heartbeat_interval_s,
        probe_fresh_s=PROBE_FRESH_S,
    )


async def _run(
    registry: Registry,
    broker: DemoBroker,
    listen: tuple[str, int],
    *,
    seed: int | None,
    topology: str,
) -> int:
    # A real state store in a temporary file (deleted at exit): reports work as in production.
    history = tempfile.TemporaryDirectory(prefix="dcmon-demo-")
    with history:
        return await _run_with_store(
            registry, broker, listen, seed=seed, topology=topology, store=history.name
        )


async def _run_with_store(
    registry: Registry,
    broker: DemoBroker,
    listen: tuple[str, int],
    *,
    seed: int | None,
    topology: str,
    store: str,
) -> int:
    host, port = listen
    from monitor.service.aggregator import Aggregator
    from monitor.service.serve import serve

    config = demo_config(broker.url, host, port, topology, str(Path(store) / "state.db"))
    aggregator = Aggregator(config, registry)
    simulator = Simulator(registry, parse_broker_url(broker.url), DEMO_TIMING, seed=seed)
    ignore_stale_socket_writers(asyncio.get_running_loop())
    stop = asyncio.Event()
    ready = asyncio.Event()
    started = time.monotonic()
    code = 0
    with stop_on_signals(stop):
        server = asyncio.create_task(
            serve(
                config,
                registry,
                demo_app=build_demo_app(simulator),
                ready=ready,
                aggregator=aggregator,
            ),
            name="dcmon-demo-aggregator",
        )
        try:
            await _wait_ready(server, ready, f"{host}:{port}")
            base = f"http://{_url_host(host)}:{aggregator.bound_port or port}"
            await simulator.start()
            _print_banner(base, registry)
            watchers = {
                asyncio.create_task(_announce_connected(aggregator, registry, started)),
                asyncio.create_task(report_agent_outages(simulator, _say)),
            }
            keeper = asyncio.create_task(keep_broker_alive(broker, _say))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({keeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            await cancel_and_wait({*watchers, keeper, stopper})
            if not keeper.cancelled() and keeper.exception() is None:
                _say(f"{keeper.result()}; stopping")
                code = 1
            else:
                _say("stopping…")
        finally:
            # The aggregator first: the agents' goodbyes are not news to anyone watching.
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)
            await simulator.stop()
    return code


def _say(line: str) -> None:
    print(f"dcmon demo: {line}", flush=True)


async def _wait_ready(server: asyncio.Task[None], ready: asyncio.Event, listen: str) -> None:
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiter.cancel()
        try:
            server.result()
        except OSError as exc:
            raise DcmonError(f"--listen {listen}: cannot listen there ({exc.strerror})") from exc
        raise DcmonError("the aggregator stopped during start-up")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _print_banner(base: str, registry: Registry) -> None:
    example = next((c.id for c in registry.centers if c.tier == "regional"), registry.centers[0].id)
    print(
        f"dcmon demo: simulating {len(registry.centers)} centers and {len(registry.links)} links\n"
        f"  status page   {base}/\n"
        f"  metrics       {base}/metrics\n"
        f"  API           {base}/api/v1/centers   (OpenAPI: {base}/openapi.json)\n"
        f"  faults        {base}/api/v1/demo/faults\n"
        f"  report        dcmon report --url {base} --from 1h --format html -o report.html\n"
        f"  try           dcmon fault down {example} --url {base}\n"
        f"                dcmon status --url {base}\n"
        f"                dcmon fault heal --url {base}\n"
        "  Ctrl-C stops everything.",
        flush=True,
    )


async def _announce_connected(aggregator: Any, registry: Registry, started: float) -> None:
    """Say once when every center is connected (the demo's promise: within 10 s)."""
    total = len(registry.centers)
    deadline = started + ALL_CONNECTED_WAIT_S
    while time.monotonic() < deadline:
        counts = aggregator.snapshot.status_counts
        if counts.get("connected", 0) + counts.get("degraded", 0) == total:
            elapsed = time.monotonic() - started
            print(f"dcmon demo: all {total} centers connected after {elapsed:.1f} s", flush=True)
            return
        await asyncio.sleep(0.25)
    with contextlib.suppress(Exception):
        counts = dict(aggregator.snapshot.status_counts)
        logger.warning(
            "not every center is connected after %.0f s: %s", ALL_CONNECTED_WAIT_S, counts
        )
