"""The root ``lumen`` command: global options, sub-commands, and errors -> exit codes."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from lumen_cli import __version__
from lumen_cli.errors import Interrupted, LumenError, exit_code_help

# Sub-commands, in the order `lumen --help` lists them: name -> (module, attribute).
# An attribute ``app`` is a Typer group; anything else is a command function. Modules
# are imported only when their command runs (or help lists them): start-up stays cheap.
COMMANDS: dict[str, tuple[str, str]] = {
    "submit": ("submit", "submit"),
    "status": ("status", "status"),
    "wait": ("wait", "wait"),
    "download": ("download", "download"),
    "list": ("listing", "list_jobs"),
    "batch": ("batch", "app"),
    "webhook": ("webhook", "app"),
    "config": ("config", "app"),
    "auth": ("auth", "app"),
    "sandbox": ("sandbox", "app"),
    "doctor": ("doctor", "doctor"),
    "completion": ("completion", "completion"),
}


def load_command(name: str) -> typer.core.TyperCommand | TyperGroup:
    """Import and build the sub-command *name* (which must be in ``COMMANDS``)."""
    import importlib

    import typer.main

    module_name, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(f"lumen_cli.commands.{module_name}"), attribute)
    if isinstance(target, typer.Typer):
        sub = target
    else:
        sub = typer.Typer(rich_markup_mode="markdown", add_completion=False)
        sub.command(name)(target)
    command = typer.main.get_command(sub)
    command.name = name
    assert isinstance(command, (typer.core.TyperCommand, TyperGroup))
    return command


class LumenGroup(TyperGroup):
    """Loads sub-commands on demand and turns every ``LumenError`` into its exit code."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return list(COMMANDS)

    def get_command(  # type: ignore[override]
        self, ctx: typer.Context, cmd_name: str
    ) -> typer.core.TyperCommand | TyperGroup | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except LumenError as error:
            self._report(ctx, error)
        except KeyboardInterrupt:
            typer.echo(err=True)  # off the ^C
            self._report(ctx, Interrupted())

    @staticmethod
    def _report(ctx: typer.Context, error: LumenError) -> NoReturn:
        from lumen_cli.context import AppContext

        state = ctx.obj
        if isinstance(state, AppContext):
            state.output.error(error)
        else:  # failed before the context existed
            typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(int(error.exit_code)) from None


app = typer.Typer(
    name="lumen",
    cls=LumenGroup,
    help=(
        "Turn prompts into video clips with the Lumen video API.\n\n"
        'Try it with no account: `lumen --sandbox submit "a cat running" --wait --download`.'
    ),
    epilog=exit_code_help(),
    no_args_is_help=True,
    add_completion=True,  # registers the shell completers `lumen completion` prints
    pretty_exceptions_show_locals=False,  # locals may hold the API key
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lumen {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Config profile to use (default: LUMEN_PROFILE, then default_profile).",
            show_default=False,
        ),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            envvar="LUMEN_SANDBOX",
            help="Use the built-in local sandbox (started if needed): no account, no network.",
        ),
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="API base URL (default: LUMEN_BASE_URL, then config).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Turn prompts into video clips with the Lumen video API."""
    from lumen_cli.context import AppContext, Overrides

    overrides = ctx.obj if isinstance(ctx.obj, Overrides) else None
    state = AppContext(profile=profile, sandbox=sandbox, base_url=base_url, overrides=overrides)
    ctx.obj = state
    ctx.call_on_close(state.close)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="lumen")
