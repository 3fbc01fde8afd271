"""``dcmon demo``: a broker, the aggregator and the simulated federation on one machine.

``broker`` starts the demo's MQTT broker (mosquitto, else the embedded iotcore), ``faults`` is
the fault-injection HTTP API mounted at ``/api/v1/demo/`` (only in the demo), ``command`` runs
everything until Ctrl-C.
"""
