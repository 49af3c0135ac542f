"""commands/base.py: lumen's own conversion of plain parameter values (no pydantic)."""

from __future__ import annotations

import json

import pytest

from lumen_cli.app import COMMANDS, load_command
from lumen_cli.commands.base import plain_value
from tests.conftest import CLI


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--limit", "abc"], "'--limit' / '-n': 'abc' is not an integer"),
        (["list", "--limit", "0"], "'--limit' / '-n': 0 is below the minimum, 1"),
        (["wait", "v1", "--interval", "0.05"], "'--interval': 0.05 is below the minimum, 0.1"),
        (
            ["wait", "v1", "--download-workers", "99"],
            "'--download-workers': 99 is above the maximum, 32",
        ),
        (["wait", "v1", "--timeout", "soon"], "'--timeout': 'soon' is not a number"),
        (["wait", "v1", "--timeout", "nan"], "'--timeout': 'nan' is not a number"),
    ],
)
def test_bad_values_are_usage_errors_that_name_the_flag(
    cli: CLI, args: list[str], message: str
) -> None:
    run = cli(*args)
    assert run.code == 2
    assert f"error: invalid value for {message}\n" in run.stderr


def test_values_are_converted_as_typed(cli: CLI) -> None:
    cli("submit", "a cat", "-q")
    cli("submit", "a dog", "-q")
    assert len(json.loads(cli("list", "--limit", " 1 ", "--json").stdout)) == 1
    body = json.loads(
        cli(
            "submit", "a cat", "--dry-run", "-d", "6", "--no-audio",
            "--ref-image", "https://img.example/1.png", "--ref-image", "https://img.example/2.png",
        ).stdout
    )  # fmt: skip
    assert body["duration"] == 6
    assert body["generate_audio"] is False
    assert body["reference_image_urls"] == [
        "https://img.example/1.png",
        "https://img.example/2.png",
    ]


@pytest.mark.parametrize(("word", "code"), [("yes", 0), ("0", 0), ("On", 0), ("maybe", 2)])
def test_a_flag_from_the_environment_takes_the_usual_words(
    cli: CLI, monkeypatch: pytest.MonkeyPatch, word: str, code: int
) -> None:
    monkeypatch.setenv("LUMEN_SANDBOX", word)
    run = cli("config", "path")
    assert run.code == code
    if code:
        assert "'maybe' is none of 1/0, true/false, yes/no, on/off" in run.stderr


def test_only_choices_are_left_to_typer() -> None:
    left = set()
    for name in COMMANDS:
        command = load_command(name)
        for sub in [command, *getattr(command, "commands", {}).values()]:
            left |= {p.name for p in sub.params if plain_value(p) is None}
    assert left == {"shell", "status"}  # `completion SHELL`, `webhook send --status`
