"""The running aggregator: MQTT ingest, the evaluation loop, metrics, events and the HTTP API.

Adapters around the pure core (``monitor.status``); ``monitor.service.serve.serve`` runs one
for the ``dcmon aggregator`` command, the demo and the tests alike.
"""
