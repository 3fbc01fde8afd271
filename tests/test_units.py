"""Amounts on the command line: `100TB`, `512GiB`, `1.5T` and plain counts, read in one place,
with errors that say what would be right."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.errors import ConfigError
from monitor.commands.units import human_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100TB", 100 * 10**12),
        ("100 TB", 100 * 10**12),
        ("100tb", 100 * 10**12),
        ("1.5T", 1_500_000_000_000),
        ("512GiB", 512 * 2**30),
        ("512Gi", 512 * 2**30),
        ("2KiB", 2048),
        ("1.5KiB", 1536),
        ("4PB", 4 * 10**15),
        ("10M", 10**7),
        ("0.5kB", 500),
        ("123", 123),
        ("123B", 123),
        ("1,024GB", 1024 * 10**9),
        ("0", 0),
        (" 8GB ", 8 * 10**9),
        (".5TB", 5 * 10**11),
    ],
)
def test_byte_amounts_take_si_and_iec_units(text: str, expected: int) -> None:
    """SI prefixes count in 1000s, IEC ones (GiB) in 1024s; no unit is bytes."""
    assert parse_amount(text, "storage_bytes", "--min") == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "'' is not an amount like 100TB or 512GiB"),
        ("TB", "'TB' is not an amount like 100TB or 512GiB"),
        ("-5TB", "'-5TB' is not an amount like 100TB or 512GiB"),
        ("1e12", "'1e12' is not an amount like 100TB or 512GiB"),
        ("5XB", "'5XB': unknown unit 'XB'"),
        ("5TBB", "'5TBB': unknown unit 'TBB'"),
        ("5iB", "'5iB': unknown unit 'iB'"),
        ("1.2.3TB", "'1.2.3TB' is not an amount"),
        ("12,34GB", "'12,34GB' is not an amount"),
        ("nan", "'nan' is not an amount"),
        ("5Q", "'5Q': unknown unit 'Q' (use B, KB, MB, GB, TB, PB"),
        ("9999999PB", "'9999999PB' is too large"),
        ("\u0661\u0660TB", "is not an amount"),  # Arabic-Indic digits
    ],
)
def test_bad_byte_amounts_are_refused_naming_the_flag(text: str, problem: str) -> None:
    """A malformed amount is one sentence naming the flag and what was wrong."""
    with pytest.raises(ConfigError) as caught:
        parse_amount(text, "memory_bytes", "--min")
    message = str(caught.value)
    assert message.startswith("--min: ")
    assert problem in message


def test_counts_are_whole_numbers_without_units() -> None:
    """Cores and GPUs are counted: `8` and `1,200` are fine, `8GB` and `1.5` are not."""
    assert parse_amount("8", "gpus", "--min") == 8
    assert parse_amount("1,200", "cpu_cores", "--min") == 1200
    with pytest.raises(ConfigError, match=r"--min: '8GB': gpus are counted, not measured"):
        parse_amount("8GB", "gpus", "--min")
    with pytest.raises(ConfigError, match=r"--min: '1.5': cpu_cores come in whole numbers"):
        parse_amount("1.5", "cpu_cores", "--min")


@given(st.floats(min_value=0, max_value=9e18, allow_nan=False))
def test_what_is_printed_reads_back_as_about_the_same_amount(value: float) -> None:
    """An amount the console prints (`1.2 PB`, `512 B`) is accepted back, within its rounding."""
    printed = human_amount("storage_bytes", value)
    read = parse_amount(printed, "storage_bytes", "--min")
    assert abs(read - value) <= max(0.5, value * 0.05)


@given(st.integers(min_value=0, max_value=10**9))
def test_printed_counts_read_back_exactly(value: int) -> None:
    """A count printed with thousands separators (`1,200`) reads back as itself."""
    assert parse_amount(human_amount("gpus", value), "gpus", "--min") == value
