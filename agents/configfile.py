"""Loading YAML configuration into frozen typed records, with errors that read like a sentence."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final, TypeVar, get_args

import msgspec
import yaml

from agents.errors import ConfigError

T = TypeVar("T")

_AT_PATH: Final = re.compile(r"\s*-\s*at\s*`\$(?P<path>[^`]*)`\s*$")
_TYPE_WORDS: Final = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a missing, unreadable or malformed file raises ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "", "file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "", f"cannot read file ({exc})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), "", f"invalid YAML at {where}: {problem}") from exc


def convert(data: Any, target: type[T], source: str, *, choices: dict[str, tuple[str, ...]]) -> T:
    """Validate ``data`` into ``target``; a mismatch raises one ``ConfigError`` naming the field.

    Args:
        data: the parsed YAML document.
        target: a msgspec Struct type (frozen, ``forbid_unknown_fields``).
        source: the file name (or flag) used in error messages.
        choices: allowed values per field name, to word enum errors as "'x' is not one of …".
    """
    if data is None:
        raise ConfigError(source, "", "the file is empty")
    try:
        return msgspec.convert(data, target, strict=False)
    except msgspec.ValidationError as exc:
        field, problem = _describe(str(exc), choices)
        raise ConfigError(source, field, problem) from exc


def literal_values(annotation: Any) -> tuple[str, ...]:
    """The allowed values of a ``Literal[...]`` annotation."""
    return tuple(str(v) for v in get_args(annotation))


def _describe(message: str, choices: dict[str, tuple[str, ...]]) -> tuple[str, str]:
    match = _AT_PATH.search(message)
    path = match.group("path").lstrip(".") if match else ""
    text = message[: match.start()] if match else message
    if m := re.fullmatch(r"Object contains unknown field `(.+)`", text):
        return _join(path, m.group(1)), "unknown key (check the spelling)"
    if m := re.fullmatch(r"Object missing required field `(.+)`", text):
        return _join(path, m.group(1)), "required key is missing"
    if m := re.fullmatch(r"Invalid enum value (.+)", text):
        leaf = re.split(r"[.\[]", path)[-1] if path else ""
        allowed = choices.get(leaf)
        if allowed:
            return path, f"{m.group(1)} is not one of {', '.join(allowed)}"
        return path, f"{m.group(1)} is not an allowed value"
    if m := re.fullmatch(r"Expected `(\w+)`, got `(\w+)`", text):
        want = _TYPE_WORDS.get(m.group(1), m.group(1))
        got = _TYPE_WORDS.get(m.group(2), m.group(2))
        return path, f"expected {want}, got {got}"
    if m := re.fullmatch(r"Expected `(\w+)` (.+)", text):
        return path, f"expected {_TYPE_WORDS.get(m.group(1), m.group(1))} {m.group(2)}"
    return path, text[0].lower() + text[1:] if text else "invalid value"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
