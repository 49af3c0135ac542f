"""``lumen completion``: print a shell completion script."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from lumen_cli.context import app_context


class Shell(enum.StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


def completion(
    ctx: typer.Context,
    shell: Annotated[Shell, typer.Argument(help="bash, zsh, fish or powershell.", metavar="SHELL")],
) -> None:
    """Print the shell completion script for SHELL.

    Job ids complete from the history, newest first (for wait the unfinished ones first,
    for download only succeeded ones); so do models, profiles, settings and statuses. No
    network, no waiting.

    **Examples**

        lumen completion bash > ~/.local/share/bash-completion/completions/lumen

        lumen completion zsh > ~/.zfunc/_lumen   # with fpath+=(~/.zfunc) in ~/.zshrc

        lumen completion fish > ~/.config/fish/completions/lumen.fish
    """
    state = app_context(ctx)
    from lumen_cli.completion import script

    state.output.lines(script(shell.value).rstrip("\n"))
