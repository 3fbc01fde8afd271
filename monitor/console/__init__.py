"""Operator commands that talk to a running aggregator over HTTP: status, capacity, fault."""
