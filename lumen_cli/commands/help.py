"""``lumen help``: the help of lumen, or of a command."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lumen_cli.errors import BadInput


def help_command(
    ctx: typer.Context,
    command: Annotated[
        list[str] | None,
        typer.Argument(
            help="A command (and sub-command), e.g. `config set`.",
            show_default=False,
            metavar="COMMAND...",
        ),
    ] = None,
) -> None:
    """Show the help of lumen or of a command.

    The same as `lumen COMMAND --help`.

    **Examples**

        lumen help

        lumen help submit

        lumen help config set
    """
    target: Any = ctx.find_root()
    for name in command or []:
        group = target.command
        found = group.get_command(target, name) if hasattr(group, "get_command") else None
        if found is None:
            where = target.command_path
            raise BadInput(
                f"{where} has no command {name!r}", hint=f"Run `{where} --help` to see them."
            )
        target = found.make_context(name, [], parent=target, resilient_parsing=True)
    typer.echo(target.get_help())
