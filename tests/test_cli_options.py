"""The command lines themselves: every flag explained, options accepted at any level, one
default URL that finds the aggregator."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from agents.cli import build_parser as agent_parser
from monitor.commands.api import DEFAULT_URL, URL_ENV, endpoint
from monitor.commands.cli import build_parser
from monitor.config import AggregatorConfig


def undocumented(parser: argparse.ArgumentParser, path: str) -> Iterator[str]:
    """Every flag, positional and subcommand under ``parser`` that has no help text."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or str(action.metavar or action.dest)
        if isinstance(action, argparse._SubParsersAction):
            documented = {choice.dest for choice in action._choices_actions if choice.help}
            for command, sub in action.choices.items():
                if command not in documented:
                    yield f"{path} {command}"
                yield from undocumented(sub, f"{path} {command}")
        elif not action.help or action.help == argparse.SUPPRESS:
            yield f"{path} {name}"


@pytest.mark.parametrize(
    ("parser", "prog"), [(build_parser(), "dcmon"), (agent_parser(), "dcmon-agent")]
)
def test_every_flag_of_every_command_has_help(parser: argparse.ArgumentParser, prog: str) -> None:
    """`--help` explains every flag, argument and subcommand of dcmon and dcmon-agent."""
    assert list(undocumented(parser, prog)) == []


def test_the_help_check_finds_a_flag_without_help() -> None:
    """The walk above does look into subcommands (it would catch a new bare flag)."""
    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers().add_parser("y", help="y")
    sub.add_argument("--bare")
    assert list(undocumented(parser, "x")) == ["x y --bare"]


@pytest.mark.parametrize(
    "argv",
    [
        ["fault", "--url", "http://agg:1", "heal"],
        ["fault", "heal", "--url", "http://agg:1"],
        ["fault", "--url", "http://agg:9", "heal", "--url", "http://agg:1"],
        ["status", "--url", "http://agg:1"],
    ],
)
def test_options_are_accepted_before_or_after_a_subcommand(argv: list[str]) -> None:
    """`dcmon fault --url X heal` and `dcmon fault heal --url X` both ask X (the innermost
    one wins when both are given)."""
    args = build_parser().parse_args(argv)
    assert endpoint(args).url == "http://agg:1"


def test_log_level_is_accepted_before_or_after_the_command() -> None:
    """--log-level works on dcmon itself and on any command, defaulting to INFO."""
    parser = build_parser()
    assert parser.parse_args(["status"]).log_level == "INFO"
    assert parser.parse_args(["--log-level", "DEBUG", "status"]).log_level == "DEBUG"
    assert parser.parse_args(["status", "--log-level", "ERROR"]).log_level == "ERROR"
    assert parser.parse_args(["fault", "heal", "--log-level", "ERROR"]).log_level == "ERROR"


def test_default_url_is_where_the_aggregator_listens_unless_dcmon_url_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No --url: $DCMON_URL, else the aggregator's (and the demo's) default listen address."""
    monkeypatch.delenv(URL_ENV, raising=False)
    parser = build_parser()
    assert endpoint(parser.parse_args(["status"])).url == DEFAULT_URL
    assert f"http://{AggregatorConfig().listen}" == DEFAULT_URL
    assert parser.parse_args(["demo"]).listen == AggregatorConfig().listen
    monkeypatch.setenv(URL_ENV, "http://elsewhere:9108")
    assert endpoint(parser.parse_args(["status"])).url == "http://elsewhere:9108"
    explicit = parser.parse_args(["status", "--url", "http://given:1"])
    assert endpoint(explicit).url == "http://given:1"
