"""``dcmon check-config FILE…``: validate registry, aggregator, agent and web config files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agents.configfile import read_yaml
from agents.errors import ConfigError


def register(subparsers: Any) -> None:
    """Add the ``check-config`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check-config",
        help="validate registry, aggregator, agent and web configuration files",
        description="Validate files (the kind of each is detected) and print a short summary.",
    )
    parser.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="registry, aggregator, agent or web configuration files (the kind is detected)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check every file in order; stop at the first error (raised as ``ConfigError``)."""
    for path in args.files:
        print(f"{path}: OK — {check_file(path)}")
    return 0


def check_file(path: Path) -> str:
    """Validate one file and describe it; raises ``ConfigError`` on the first problem."""
    data = read_yaml(path)
    if data is None:
        raise ConfigError(str(path), "", "the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", "expected a mapping at the top level")
    if "centers" in data or "links" in data:
        from monitor.registry import parse_registry

        return f"registry: {parse_registry(data, str(path)).summary()}"
    if "center" in data:
        from agents.config import parse_agent_config

        return f"agent config: {parse_agent_config(data, str(path)).summary()}"
    from monitor.service.web_config import TOP_LEVEL_KEYS, load_web_config

    if set(data) <= TOP_LEVEL_KEYS:
        return f"web config: {load_web_config(path).summary()}"
    from monitor.config import parse_aggregator_config
    from monitor.service.access import check_writers

    config = parse_aggregator_config(data, str(path))
    if config.web_config:
        check_writers(config.writers, load_web_config(config.web_config), str(path))
    return f"aggregator config: {config.summary()}"
