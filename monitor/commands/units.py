"""Amounts of capacity as people write and read them: ``100TB``, ``512GiB``, ``1.5T``, ``8``.

The one place that turns text into an amount (``parse_amount``) and an amount into text
(``human_amount``), so what the console prints it also accepts.
"""

from __future__ import annotations

import math
import re
from typing import Final

from agents.errors import ConfigError

DECIMAL_UNITS: Final = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
"""SI prefixes: ``TB`` (and plain ``T``) is 10**12 bytes, as disks and the status page count."""
BINARY_UNITS: Final = {"KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40, "PI": 2**50}
"""IEC prefixes: ``GiB`` is 2**30 bytes, as memory is sized."""
UNIT_NAMES: Final = "B, KB, MB, GB, TB, PB (powers of 1000) or KiB, MiB, GiB, TiB, PiB (of 1024)"
PRINTED_UNITS: Final = (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6))

_AMOUNT: Final = re.compile(
    r"(?P<number>[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
    r"\s*(?P<unit>[A-Za-z]*)",
    re.ASCII,
)


def measured_in_bytes(resource: str) -> bool:
    """Whether a resource is an amount of bytes (memory, storage) rather than a count."""
    return resource.endswith("_bytes")


def parse_amount(text: str, resource: str, flag: str) -> int:
    """``100TB`` → 100000000000000 for a ``*_bytes`` resource; ``8`` → 8 for a count.

    Accepted: a plain non-negative number, optionally with thousands separators (``1,200``),
    followed for bytes by an optional unit: ``B``, an SI prefix (``K``, ``M``, ``G``, ``T``,
    ``P``, optionally followed by ``B``) or an IEC one (``KiB`` … ``PiB``); case does not
    matter, a space may separate number and unit. Counts (cores, GPUs) are whole numbers with
    no unit. Bytes are rounded to the nearest whole byte.

    Raises:
        ConfigError: naming ``flag``, saying what was wrong and what would be right.
    """
    stripped = text.strip()
    match = _AMOUNT.fullmatch(stripped)
    if match is None:
        example = "100TB or 512GiB" if measured_in_bytes(resource) else "8"
        raise ConfigError(flag, "", f"{text!r} is not an amount like {example}")
    number = float(match["number"].replace(",", ""))
    unit = match["unit"]
    if not measured_in_bytes(resource):
        if unit:
            raise ConfigError(
                flag, "", f"{text!r}: {resource} are counted, not measured; give a number like 8"
            )
        if not number.is_integer():
            raise ConfigError(flag, "", f"{text!r}: {resource} come in whole numbers")
        return int(number)
    scale = _unit_scale(unit)
    if scale is None:
        raise ConfigError(flag, "", f"{text!r}: unknown unit {unit!r} (use {UNIT_NAMES})")
    amount = number * scale
    if not math.isfinite(amount) or amount >= 2**63:
        raise ConfigError(flag, "", f"{text!r} is too large")
    return round(amount)


def _unit_scale(unit: str) -> int | None:
    upper = unit.upper()
    if upper in ("", "B"):
        return 1
    prefix = upper.removesuffix("B")
    if prefix in BINARY_UNITS:
        return BINARY_UNITS[prefix]
    if upper.endswith("IB") or len(prefix) != 1:
        return None
    return DECIMAL_UNITS.get(prefix)


def human_amount(resource: str, value: float) -> str:
    """``storage_bytes`` 1.2e15 → ``1.2 PB``; cores and GPUs as plain integers."""
    if measured_in_bytes(resource):
        for unit, size in PRINTED_UNITS:
            if value >= size:
                return f"{value / size:,.1f} {unit}"
        return f"{value:,.0f} B"
    return f"{value:,.0f}"
