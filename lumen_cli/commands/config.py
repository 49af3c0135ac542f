"""``lumen config``: read and write settings in the TOML config file."""

from __future__ import annotations

from typing import Annotated

import typer

from lumen_cli.commands.base import Command, group
from lumen_cli.commands.inputs import read_secret
from lumen_cli.commands.options import JsonOutput
from lumen_cli.config import (
    KEYS,
    SANDBOX_KEY,
    SANDBOX_KEYS,
    SANDBOX_SOURCE,
    lookup_key,
    mask,
    parse_value,
)
from lumen_cli.context import app_context
from lumen_cli.errors import BadInput, ExitCode

app = group(
    "Read and write settings.\n\n"
    "Each value comes from, in this order: a flag, a LUMEN_* variable, the active profile, "
    "the built-in default.\n\n"
    "**Examples**\n\n"
    "    lumen config set model seedance-2-fast\n\n"
    "    lumen config list\n",
    epilog="SETTINGS\n"
    + "\n".join(f"{key.name}\t{key.help} (env: {key.env_var})" for key in KEYS.values()),
)

KeyName = Annotated[
    str,
    typer.Argument(
        help=f"Setting name: {', '.join(KEYS)}, or default_profile.",
        show_default=False,
        metavar="KEY",
    ),
]
DEFAULT_PROFILE_KEY = "default_profile"


@app.command("get", cls=Command)
def get(ctx: typer.Context, key: KeyName) -> None:
    """Print the value in effect (secrets masked); exit 1 when it is unset.

    **Example**

        lumen config get model
    """
    state = app_context(ctx)
    if key == DEFAULT_PROFILE_KEY:
        state.output.data(state.settings.profile)
        return
    lookup_key(key)
    shown = state.settings.describe(key)
    if not shown:
        state.output.info(f"{key} is not set")
        raise typer.Exit(ExitCode.ERROR)
    state.output.data(shown)


@app.command("set", cls=Command)
def set_(
    ctx: typer.Context,
    key: KeyName,
    value: Annotated[
        str | None,
        typer.Argument(
            help="The value; for secrets leave it out (prompted) or pass '-' (stdin).",
            show_default=False,
            metavar="VALUE",
        ),
    ] = None,
) -> None:
    """Store a value in the active profile.

    Secrets (webhook_secret) are read from a hidden prompt or stdin, never from the
    command line; store the API key with `lumen auth login`.

    **Examples**

        lumen config set model seedance-2-fast

        lumen --profile work config set base_url https://lumen.example.com

        printf %s "$SECRET" | lumen config set webhook_secret -
    """
    state = app_context(ctx, creates_profile=True)
    if key == DEFAULT_PROFILE_KEY:
        if not value:
            raise BadInput("config set default_profile needs a profile name")
        state.config_file.set_default_profile(value)
        state.output.info(f"default_profile = {value}")
        return
    spec = lookup_key(key)
    if spec.name == "api_key":
        raise BadInput(
            "the API key is not set with `config set`",
            hint="Use `lumen auth login` (hidden prompt, or the key on stdin) or LUMEN_API_KEY.",
        )
    if spec.secret:
        value = read_secret(f"{spec.name}", value)
    elif value is None:
        raise BadInput(f"config set {spec.name} needs a value")
    parsed = parse_value(spec, value)
    profile = state.settings.profile
    state.config_file.update(profile, spec.name, parsed)
    shown = mask(str(parsed)) if spec.secret else spec.show(value) if spec.show else value
    state.output.info(f"[profiles.{profile}] {spec.name} = {shown}")


@app.command("unset", cls=Command)
def unset(ctx: typer.Context, key: KeyName) -> None:
    """Remove a value from the active profile.

    **Example**

        lumen config unset resolution
    """
    state = app_context(ctx)
    spec = lookup_key(key)
    profile = state.settings.profile
    state.config_file.update(profile, spec.name, None)
    state.output.info(f"[profiles.{profile}] {spec.name} removed")


@app.command("list", cls=Command)
def list_(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """Show every setting in effect and where it comes from (secrets masked).

    **Example**

        lumen config list
    """
    state = app_context(ctx, json_output=json_output)
    settings = state.settings
    rows = []
    for name in KEYS:
        if state.sandbox and name in SANDBOX_KEYS:  # what --sandbox uses, without starting it
            shown = state.sandbox_url_preview() if name == "base_url" else mask(SANDBOX_KEY)
            rows.append((name, shown, SANDBOX_SOURCE))
            continue
        setting = settings.get(name)
        rows.append(
            (name, settings.describe(name), setting.source if setting.value is not None else "")
        )
    if json_output:
        state.output.json(
            {
                "profile": settings.profile,
                "path": str(state.config_file.path),
                "settings": {
                    name: {"value": shown or None, "source": source or None}
                    for name, shown, source in rows
                },
            }
        )
        return
    state.output.info(f"profile: {settings.profile}   file: {state.config_file.path}")
    state.output.table(["KEY", "VALUE", "SOURCE"], [list(row) for row in rows])
    if state.config_file.loose_permissions():
        state.output.warn(f"{state.config_file.path} is readable by others; run chmod 600 on it")


@app.command("path", cls=Command)
def path(ctx: typer.Context) -> None:
    """Print the config file's path.

    **Example**

        lumen config path
    """
    state = app_context(ctx)
    state.output.data(str(state.config_file.path))
