"""``dcmon aggregator``: run the aggregator (MQTT ingest, status engine, metrics, HTTP API)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from agents.broker import TlsFiles, parse_broker_url
from agents.configfile import read_yaml
from agents.errors import ConfigError, DcmonError
from agents.lifecycle import call_on_hangup, cancel_and_wait, stop_on_signals
from monitor.config import (
    DEFAULT_LISTEN,
    AggregatorConfig,
    check_aggregator_config,
    parse_aggregator_config,
    parse_listen,
)
from monitor.registry import Registry, load_registry

if TYPE_CHECKING:
    from monitor.service.aggregator import Aggregator
    from monitor.service.reload import ConfigLoader

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``aggregator`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "aggregator",
        help="run the aggregator",
        description="Subscribe to the broker, derive every center's status, serve metrics and API. "
        "Flags override the configuration file.",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="aggregator YAML file")
    parser.add_argument(
        "--topology", metavar="FILE", help="registry file (default config/topology.yaml)"
    )
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="mqtt://host:port or mqtts://host:port (default mqtt://127.0.0.1:1883)",
    )
    parser.add_argument(
        "--listen", metavar="HOST:PORT", help=f"HTTP address (default {DEFAULT_LISTEN})"
    )
    parser.add_argument(
        "--web-config",
        metavar="FILE",
        help="TLS, basic auth and headers of the HTTP API (Prometheus exporters' web-config.yml)",
    )
    parser.add_argument(
        "--instance",
        metavar="ID",
        help="this aggregator's id, in its MQTT topic and metrics (default aggregator)",
    )
    parser.add_argument("--username", help="broker user name (else $DCMON_MQTT_USERNAME)")
    parser.add_argument("--password-file", metavar="FILE", help="file holding the broker password")
    parser.add_argument("--ca-file", metavar="FILE", help="CA bundle for mqtts://")
    parser.add_argument("--cert-file", metavar="FILE", help="client certificate for mqtts://")
    parser.add_argument("--key-file", metavar="FILE", help="client key for mqtts://")
    parser.add_argument(
        "--heartbeat-misses",
        type=int,
        metavar="N",
        help="a center is silent after N heartbeat intervals without one (default 3)",
    )
    parser.add_argument(
        "--default-heartbeat-interval",
        type=float,
        metavar="S",
        help="heartbeat interval of a center whose birth has not said it yet (default 5 s)",
    )
    parser.add_argument(
        "--probe-fresh",
        type=float,
        metavar="S",
        help="a probe report counts this long at least (default 30 s)",
    )
    parser.add_argument(
        "--state-store",
        metavar="PATH",
        help="SQLite file keeping incidents, transitions and time per status across restarts",
    )
    parser.add_argument(
        "--store-retention-days",
        type=float,
        metavar="DAYS",
        help="how long the state store keeps time per status and incidents (default 400)",
    )
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> AggregatorConfig:
    """The configuration file (if any) with every given flag applied on top."""
    config = (
        parse_aggregator_config(read_yaml(args.config), str(args.config))
        if args.config
        else AggregatorConfig()
    )
    changes: dict[str, Any] = {}
    for flag, field in (
        ("topology", "topology"),
        ("broker", "broker"),
        ("listen", "listen"),
        ("web_config", "web_config"),
        ("instance", "instance"),
        ("username", "username"),
        ("password_file", "password_file"),
        ("heartbeat_misses", "heartbeat_misses"),
        ("default_heartbeat_interval", "default_heartbeat_interval_s"),
        ("probe_fresh", "probe_fresh_s"),
        ("state_store", "state_store"),
        ("store_retention_days", "store_retention_days"),
    ):
        value = getattr(args, flag)
        if value is not None:
            changes[field] = value
    tls = config.tls or TlsFiles()
    tls_changes = {
        name: getattr(args, name)
        for name in ("ca_file", "cert_file", "key_file")
        if getattr(args, name) is not None
    }
    if tls_changes:
        changes["tls"] = msgspec.structs.replace(tls, **tls_changes)
    if "heartbeat_misses" in changes and changes["heartbeat_misses"] < 1:
        raise ConfigError("--heartbeat-misses", "", "must be at least 1")
    for field, flag in (
        ("default_heartbeat_interval_s", "--default-heartbeat-interval"),
        ("probe_fresh_s", "--probe-fresh"),
    ):
        if field in changes and not changes[field] > 0:
            raise ConfigError(flag, "", "must be a positive number of seconds")
    if "store_retention_days" in changes and not changes["store_retention_days"] > 0:
        raise ConfigError("--store-retention-days", "", "must be a positive number of days")
    # Name the flag, not the merged config, when a flag is what is wrong.
    if args.broker is not None:
        parse_broker_url(args.broker, source="--broker")
    if args.listen is not None:
        parse_listen(args.listen, "--listen")
    config = msgspec.structs.replace(config, **changes)
    source = "command line" if not args.config else str(args.config)
    check_aggregator_config(config, source)
    check_access(config, source)
    return config


def check_access(config: AggregatorConfig, source: str) -> None:
    """Load the web config (if any) and check the writers against it, before anything starts."""
    from monitor.service.access import check_writers
    from monitor.service.web_config import load_web_config

    web_config = load_web_config(config.web_config) if config.web_config else None
    check_writers(config.writers, web_config, source)


def run(args: argparse.Namespace) -> int:
    """Load configuration and registry, then serve until SIGINT/SIGTERM (SIGHUP reloads)."""
    config = config_from_args(args)
    registry = load_registry(config.topology)
    return asyncio.run(_serve_until_stopped(config, registry, args))


def _loader(args: argparse.Namespace) -> ConfigLoader:
    """Reads the files again as at start: the config file with the same flags on top."""

    def load() -> tuple[AggregatorConfig, Registry]:
        config = config_from_args(args)
        return config, load_registry(config.topology)

    return load


def _reload_on_hangup(aggregator: Aggregator, running: set[asyncio.Task[Any]]) -> None:
    logger.info("SIGHUP: reloading the configuration and the registry")
    task = asyncio.create_task(_reload(aggregator), name="dcmon-reload")
    running.add(task)
    task.add_done_callback(running.discard)


async def _reload(aggregator: Aggregator) -> None:
    from monitor.service.aggregator import ReloadRefused

    with contextlib.suppress(ReloadRefused):  # logged in one line by reload()
        await aggregator.reload()


async def _serve_until_stopped(
    config: AggregatorConfig, registry: Registry, args: argparse.Namespace
) -> int:
    from monitor.service.aggregator import Aggregator
    from monitor.service.serve import serve

    aggregator = Aggregator(config, registry, loader=_loader(args))
    host, port = config.listen_address()
    logger.info(
        "aggregator %s: %d centers, %d links; broker %s; HTTP on %s:%d; state store %s",
        config.instance,
        len(registry.centers),
        len(registry.links),
        aggregator.ingest.address.url,
        host,
        port,
        config.state_store or "in memory (no state_store configured)",
    )
    stop = asyncio.Event()
    reloads: set[asyncio.Task[Any]] = set()
    with stop_on_signals(stop), call_on_hangup(lambda: _reload_on_hangup(aggregator, reloads)):
        server = asyncio.create_task(serve(config, registry, aggregator=aggregator))
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({server, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait({server, stopper, *reloads})
    if not server.cancelled() and (exc := server.exception()) is not None:
        if isinstance(exc, OSError):
            raise DcmonError(f"cannot listen on {config.listen}: {exc.strerror or exc}") from exc
        raise exc
    return 0
