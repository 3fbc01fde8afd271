"""The small exception hierarchy of dcmon."""

from __future__ import annotations


class DcmonError(Exception):
    """Base of every error dcmon raises on purpose."""


class ConfigError(DcmonError):
    """A configuration or registry file (or a flag) that a person must fix.

    Attributes:
        source: the file name or flag the value came from.
        field: dotted/indexed path of the offending field (``centers[12].tier``), or ``""``.
        problem: what is wrong, as a sentence fragment.
    """

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {problem}")


class ParameterError(DcmonError):
    """A request parameter a client got wrong (an HTTP query, a planner or what-if argument).

    Attributes:
        parameter: the parameter's name as the client spelled it (``from``, ``min``).
        problem: what is wrong, as a sentence fragment.
    """

    def __init__(self, parameter: str, problem: str) -> None:
        self.parameter = parameter
        self.problem = problem
        super().__init__(f"{parameter}: {problem}")
