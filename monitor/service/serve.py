"""``serve``: run one aggregator and its HTTP API until cancelled.

The one way an aggregator runs: ``dcmon aggregator``, ``dcmon demo`` and the tests all call it.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from monitor.config import AggregatorConfig
from monitor.registry import Registry
from monitor.service.aggregator import Aggregator
from monitor.service.http import build_app

logger = logging.getLogger(__name__)


async def serve(
    config: AggregatorConfig,
    registry: Registry,
    *,
    demo_app: web.Application | None = None,
    ready: asyncio.Event | None = None,
    aggregator: Aggregator | None = None,
) -> None:
    """Run an aggregator and its HTTP API in the current event loop until cancelled.

    Args:
        config: its configuration (``listen`` may use port 0; see ``Aggregator.bound_port``).
        registry: the registry.
        demo_app: mounted at ``/api/v1/demo/`` (fault injection, for ``dcmon demo`` only).
        ready: set once the HTTP server listens.
        aggregator: an instance built beforehand (to read its state); one is built if ``None``.
    """
    instance = aggregator or Aggregator(config, registry)
    host, port = config.listen_address()
    runner = web.AppRunner(
        build_app(instance, demo_app=demo_app), handle_signals=False, access_log=None
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        addresses = runner.addresses
        instance.bound_port = int(addresses[0][1]) if addresses else port
        logger.info("listening on http://%s:%d", host, instance.bound_port)
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
