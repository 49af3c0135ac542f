"""``lumen completion``: print a shell completion script."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from lumen_cli.context import app_context
from lumen_cli.errors import LumenError


class Shell(enum.StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


def completion_script(shell: str) -> str:
    """The script Typer's completion machinery emits for *shell*, for the program ``lumen``."""
    import os
    import subprocess
    import sys

    # Typer prints the script when asked through this variable; a child process keeps
    # us on its public behaviour instead of its private helpers.
    env = {**os.environ, "_LUMEN_COMPLETE": f"source_{shell}"}
    result = subprocess.run(
        [sys.executable, "-m", "lumen_cli"], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise LumenError(f"could not build the {shell} completion script: {result.stderr.strip()}")
    return result.stdout.strip() + "\n"


def completion(
    ctx: typer.Context,
    shell: Annotated[Shell, typer.Argument(help="bash, zsh, fish or powershell.", metavar="SHELL")],
) -> None:
    """Print the shell completion script for SHELL.

    **Examples**

        lumen completion bash > ~/.local/share/bash-completion/completions/lumen

        lumen completion zsh > "${fpath[1]}/_lumen"

        lumen completion fish > ~/.config/fish/completions/lumen.fish
    """
    state = app_context(ctx)
    state.output.lines(completion_script(shell.value).rstrip("\n"))
