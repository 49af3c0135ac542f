"""What commands read from stdin or a hidden prompt: secrets, prompts, raw bodies.

One reader each, shared by the commands that need them (like ``options.py``, this is no
command of its own).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from lumen_cli.errors import BadInput, ConfigError


def read_secret(name: str, value: str | None, *, prompt: str | None = None) -> str:
    """A secret from stdin ('-' or piped) or a hidden prompt: never from argv."""
    if value not in (None, "-"):
        raise BadInput(
            f"{name} is a secret: it is not taken on the command line",
            hint=f"Leave the value out to be prompted, or pipe it in: … | lumen … {name} -",
        )
    if value == "-" or not sys.stdin.isatty():
        secret = sys.stdin.readline().strip()
    else:
        try:
            secret = typer.prompt(prompt or name, hide_input=True).strip()
        except typer.Abort:  # Ctrl-C at the prompt: an interrupt like everywhere (130)
            raise KeyboardInterrupt from None
    if not secret:
        raise ConfigError(f"no {name} was given")
    return secret


def read_prompt(prompt: str) -> str:
    """*prompt* itself, or stdin for ``-``."""
    if prompt != "-":
        return prompt
    hint = 'Pipe a prompt in: echo "a cat" | lumen submit -'
    _refuse_terminal("'-' reads the prompt from stdin", hint)
    text = sys.stdin.read()
    if not text.strip():
        raise BadInput("the prompt read from stdin is empty", hint=hint)
    return text


def read_bytes(file: str | None) -> bytes:
    """The raw bytes of *file*, or of stdin for ``None`` / ``-``."""
    if file is None or file == "-":
        _refuse_terminal(
            "the body is read from stdin", "Pass the file that holds the raw body, or pipe it in."
        )
        return sys.stdin.buffer.read()
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {file}: {exc.strerror or exc}") from None


def _refuse_terminal(what: str, hint: str) -> None:
    if sys.stdin.isatty():
        raise BadInput(f"{what}, but stdin is a terminal", hint=hint)
