"""The simulated federation: many agents in one process, speaking the real wire protocol.

``network`` is the pure model of the simulated world (faults, probes), ``capacity`` the drift of
each center's capacity, ``agent`` one simulated center's MQTT client, ``federation`` runs them all,
``scale`` grows the registry for load tests and ``command`` is ``dcmon simulate``.
"""
