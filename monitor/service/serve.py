"""``serve``: run one aggregator and its HTTP API until cancelled.

The one way an aggregator runs: ``dcmon aggregator``, ``dcmon demo`` and the tests all call it.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from monitor.config import AggregatorConfig
from monitor.registry import Registry
from monitor.service.access import Access, check_writers, exposure_warning
from monitor.service.aggregator import Aggregator
from monitor.service.http import build_app
from monitor.service.web_config import load_web_config

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
        config: its configuration (``listen`` may use port 0; see ``Aggregator.bound_port``;
            ``web_config`` and ``writers`` say who may read and change what).
        registry: the registry.
        demo_app: mounted at ``/api/v1/demo/`` (fault injection, for ``dcmon demo`` only).
        ready: set once the HTTP server listens.
        aggregator: an instance built beforehand (to read its state); one is built if ``None``.

    Raises:
        ConfigError: the web config is unusable, or a writer is not one of its users.
    """
    instance = aggregator or Aggregator(config, registry)
    host, port = config.listen_address()
    web_config = load_web_config(config.web_config) if config.web_config else None
    check_writers(config.writers, web_config, "aggregator config")
    access = Access(web_config, config.writers)
    app = build_app(instance, demo_app=demo_app, middlewares=[access.middleware])
    app.on_response_prepare.append(access.on_response_prepare)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        ssl_context = web_config.ssl_context(config.web_config or "") if web_config else None
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        addresses = runner.addresses
        instance.bound_port = int(addresses[0][1]) if addresses else port
        scheme = "https" if ssl_context is not None else "http"
        logger.info("listening on %s://%s:%d", scheme, host, instance.bound_port)
        warning = exposure_warning(web_config, host, instance.bound_port, config.web_config or "")
        if warning is not None:
            logger.warning("%s", warning)
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
