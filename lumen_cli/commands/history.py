"""``lumen history``: ``history migrate`` copies a local history into a shared one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lumen_cli.commands.base import Command, group
from lumen_cli.commands.options import JsonOutput
from lumen_cli.context import app_context
from lumen_cli.errors import BadInput

app = group(
    """Copy the local history into a shared one.

By default the history is a file on this machine; with history_url set (a PostgreSQL
server), every machine of a team shares one. See docs/shared-history.md.

**Examples**

    lumen history migrate --to postgresql://lumen@db.example/lumen
"""
)


@app.callback()
def _group() -> None:
    """A group even with one command (Typer would make a lone command the group itself)."""


@app.command("migrate", cls=Command)
def migrate(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="The shared history (postgresql://…; default: the history_url setting).",
            show_default=False,
            metavar="URL",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="The local history file to copy (default: this machine's).",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Copy a local history into a shared one, keeping ids, times and saved paths.

    Every job, batch, batch line and upload of the local file is copied; what the shared history
    already holds stays as it is (saved paths are merged), so running it again, or from
    every member's machine, copies each job once. Jobs lumen sent are recorded as sent by
    this machine and user. The local file is left as it is.

    **Examples**

        lumen history migrate --to postgresql://lumen@db.example/lumen

        lumen config set history_url postgresql://lumen@db.example/lumen
        lumen history migrate
    """
    from lumen_cli.config import check_history_url, data_dir
    from lumen_cli.history import History

    state = app_context(ctx, json_output=json_output)
    url = check_history_url(to, "--to") if to else state.settings.value("history_url")
    if not url:
        raise BadInput(
            "history migrate needs the shared history to copy into",
            hint="Pass --to postgresql://… or set history_url.",
        )
    path = Path(source) if source else data_dir() / "history.sqlite3"
    if not path.is_file():
        raise BadInput(f"there is no local history at {path}", hint="Name one with --from FILE.")
    host = state.settings.value("host_name")
    local, shared = History(path, host=host), History(str(url), host=host)
    try:
        copied = local.copy_to(shared)
    finally:
        local.close()
        shared.close()
    out = state.output
    if json_output:
        out.json({"from": str(path), "to": shared.where, **copied.to_json()})
        return
    parts = [
        f"{copied_rows} {what}" + (f" ({present} already there)" if present else "")
        for what, (copied_rows, present) in (
            ("jobs", copied.jobs),
            ("batches", copied.batches),
            ("batch lines", copied.lines),
            ("uploads", copied.uploads),
        )
    ]
    out.info(f"copied {', '.join(parts)} from {path} to {shared.where}")
