"""The ``dcmon`` command line: one module per subcommand, and the console that talks to a
running aggregator over HTTP (status, capacity, fault)."""
