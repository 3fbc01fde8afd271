"""``dcmon simulate``: simulated agents for a whole federation against any broker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import time
from pathlib import Path
from typing import Any

import msgspec
import yaml

from agents.broker import parse_broker_url
from agents.errors import ConfigError
from agents.lifecycle import stop_on_signals
from monitor.registry import Registry, load_registry
from monitor.simulation.agent import Timing
from monitor.simulation.federation import Simulator
from monitor.simulation.scale import scale_registry

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``simulate`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="run simulated agents for every center of a registry against a broker",
        description=(
            "Simulated agents (one MQTT client per center, real wire protocol) for every center "
            "of the registry; prints the message rate it sustains. Stop with Ctrl-C."
        ),
    )
    parser.add_argument(
        "--topology",
        default="config/topology.yaml",
        metavar="FILE",
        help="the registry whose centers to simulate (default config/topology.yaml)",
    )
    parser.add_argument(
        "--broker",
        default="mqtt://127.0.0.1:1883",
        metavar="URL",
        help="the broker the agents publish to (default mqtt://127.0.0.1:1883)",
    )
    parser.add_argument(
        "--center-accounts",
        action="store_true",
        help=(
            "log in as each center (user name = center id, every center with the broker URL's "
            "or DCMON_MQTT_PASSWORD's password), as real agents do: needed on a broker that ties "
            "client id to user name, like the shipped mosquitto config"
        ),
    )
    parser.add_argument(
        "--scale", type=int, metavar="N", help="grow (or shrink) the federation to N centers"
    )
    parser.add_argument(
        "--write-topology",
        type=Path,
        metavar="FILE",
        help="write the (scaled) registry the agents simulate, for the aggregator to load",
    )
    parser.add_argument("--seed", type=int, default=None, help="reproducible noise and drift")
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between heartbeats (default 5)",
    )
    parser.add_argument(
        "--probe-interval",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds between probe reports (default 10)",
    )
    parser.add_argument(
        "--capacity-interval",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds between capacity reports (default 30)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="stop after S seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--report-every",
        type=float,
        default=10.0,
        metavar="S",
        help="print the message rate every S seconds (default 10)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load (and scale) the registry, then simulate until Ctrl-C/SIGTERM or ``--duration``."""
    for flag in ("heartbeat_interval", "probe_interval", "capacity_interval", "report_every"):
        if getattr(args, flag) <= 0:
            raise ConfigError(f"--{flag.replace('_', '-')}", "", "must be a positive number")
    if args.scale is not None and args.scale < 1:
        raise ConfigError("--scale", "", "must be at least 1")
    broker = parse_broker_url(args.broker)
    registry = load_registry(args.topology)
    if args.scale is not None:
        registry = scale_registry(registry, args.scale, seed=args.seed or 0)
    if args.write_topology is not None:
        write_registry(registry, args.write_topology)
        print(f"wrote the simulated registry to {args.write_topology}", flush=True)
    _raise_open_file_limit()
    timing = Timing(
        heartbeat_interval_s=args.heartbeat_interval,
        probe_interval_s=args.probe_interval,
        capacity_interval_s=args.capacity_interval,
    )
    return asyncio.run(_simulate(registry, broker.url, args, timing))


async def _simulate(registry: Registry, url: str, args: argparse.Namespace, timing: Timing) -> int:
    broker = parse_broker_url(args.broker)
    stop = asyncio.Event()
    print(f"simulating {len(registry.centers)} centers against {url}", flush=True)
    with stop_on_signals(stop):
        async with Simulator(
            registry, broker, timing, seed=args.seed, center_accounts=args.center_accounts
        ) as simulator:
            started = time.monotonic()
            last_total, last_at = 0, started
            while not stop.is_set():
                remaining = (
                    None if args.duration is None else started + args.duration - time.monotonic()
                )
                if remaining is not None and remaining <= 0:
                    break
                wait = args.report_every if remaining is None else min(args.report_every, remaining)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await stop.wait()
                now = time.monotonic()
                stats = simulator.stats
                rate = (stats.total - last_total) / max(now - last_at, 1e-9)
                last_total, last_at = stats.total, now
                print(
                    f"{simulator.connected_agents()}/{len(simulator.agents)} agents connected, "
                    f"{rate:.0f} msg/s (total {stats.total}), "
                    f"max schedule lag {stats.max_lag_s:.2f} s, "
                    f"{simulator.connection_errors()} connection errors",
                    flush=True,
                )
            elapsed = time.monotonic() - started
            total = simulator.stats.total
    print(
        f"published {total} messages in {elapsed:.1f} s: {total / max(elapsed, 1e-9):.0f} msg/s "
        f"sustained by {len(registry.centers)} simulated agents",
        flush=True,
    )
    return 0


def write_registry(registry: Registry, path: Path) -> None:
    """Write a registry as YAML (loadable by ``load_registry``)."""
    document = msgspec.to_builtins(registry)
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _raise_open_file_limit() -> None:
    """One socket per simulated center: lift the soft open-file limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            logger.debug("open-file limit raised from %d to %d", soft, hard)
