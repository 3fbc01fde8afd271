"""The pure status core: evidence in, statuses, graph facts and capacity answers out.

Nothing here does I/O or imports asyncio, aiohttp, aiomqtt or prometheus_client: time comes in
as an argument, and the service layer (``monitor.service``) feeds it and reads its snapshots.
"""
