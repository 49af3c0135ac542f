"""The root ``lumen`` command: global options, sub-commands, and errors -> exit codes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from lumen_cli import __version__
from lumen_cli.commands.base import Command, Group, PlainCommand
from lumen_cli.completion import COMPLETE_VAR
from lumen_cli.errors import BadInput, ExitCode, Interrupted, LumenError

if TYPE_CHECKING:
    from lumen_cli.output.help import HelpPage

# Sub-commands, in the order `lumen --help` lists them: name -> (module, attribute, the
# summary `lumen --help` shows). An attribute ``app`` is a Typer group; anything else is a
# command function. Modules are imported only when their command runs, so `lumen --help`
# imports none of them (a test holds each summary to its command's docstring).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "submit": ("submit", "submit", "Submit a video job and print its id."),
    "status": ("status", "status", "Show a job's current status, and update the history."),
    "wait": ("wait", "wait", "Wait until jobs end, and report how each ended."),
    "download": ("download", "download", "Save the videos of succeeded jobs, resumably."),
    "list": ("listing", "list_jobs", "List the jobs of the history, newest first."),
    "batch": ("batch", "app", "Send many jobs from a file, each exactly once."),
    "gallery": (
        "gallery",
        "gallery",
        "Write one HTML page of the history's jobs: videos, prompts, filters.",
    ),
    "usage": (
        "usage",
        "usage",
        "Show jobs, seconds of video and estimated credits, from the history.",
    ),
    "history": ("history", "app", "Copy the local history into a shared one."),
    "webhook": ("webhook", "app", "Receive, check and send signed job results (webhooks)."),
    "config": ("config", "app", "Read and write settings."),
    "auth": ("auth", "app", "Store, check and forget the API key."),
    "sandbox": ("sandbox", "app", "Run the built-in emulator of the API: no account, no network."),
    "doctor": ("doctor", "doctor", "Check the set-up: config file, key, API and history."),
    "completion": ("completion", "completion", "Print the shell completion script for SHELL."),
    "help": ("help", "help_command", "Show the help of lumen or of a command."),
}


def load_command(name: str) -> typer.core.TyperCommand | TyperGroup:
    """Import and build the sub-command *name* (which must be in ``COMMANDS``)."""
    import importlib

    import typer.main

    module_name, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(f"lumen_cli.commands.{module_name}"), attribute)
    if isinstance(target, typer.Typer):
        sub = target
    else:
        sub = typer.Typer(rich_markup_mode=None, add_completion=False)
        sub.command(name, cls=Command)(target)
    command = typer.main.get_command(sub)
    command.name = name
    assert isinstance(command, (Command, Group)), f"{name}: built without lumen's classes"
    return command


# Typer re-exports BadParameter, not its base: the usage error every parse failure raises.
UsageError: type[Exception] = typer.BadParameter.__mro__[1]
# Options of the root that may also be given after the command: name -> takes a value.
GLOBAL_OPTIONS = {"--sandbox": False, "--profile": True, "--base-url": True}


def hoist_global_options(args: list[str]) -> list[str]:
    """*args* with the root's options moved before the command, wherever they were given:
    ``lumen submit "x" --sandbox`` means ``lumen --sandbox submit "x"``. Stops at ``--``."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in arg
            front += args[index : index + 1 + takes_value]
            index += 1 + takes_value
            continue
        rest.append(arg)
        index += 1
    return front + rest


class LumenGroup(PlainCommand, TyperGroup):
    """Loads sub-commands on demand; turns every ``LumenError`` into its exit code and every
    usage error into plain ``error:`` / ``hint:`` lines (exit 2)."""

    raw_args: tuple[str, ...] = ()  # the arguments the run was given, for _usage_error

    def main(self, *args: Any, **kwargs: Any) -> Any:
        import os

        if os.environ.get(COMPLETE_VAR):  # a shell asks for completions (or for its script)
            import sys

            from lumen_cli.completion import answer

            text, code = answer(self, {name: row[2] for name, row in COMMANDS.items()}, os.environ)
            sys.stdout.write(text + "\n" if text else "")
            sys.exit(code)
        return super().main(*args, **kwargs)

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return list(COMMANDS)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """lumen's own page: the commands from ``COMMANDS`` (none imported), exit codes."""
        from lumen_cli.commands.base import terminal_width
        from lumen_cli.output.help import render

        formatter.write(render(_root_page(ctx), terminal_width()))

    def get_command(  # type: ignore[override]
        self, ctx: typer.Context, cmd_name: str
    ) -> typer.core.TyperCommand | TyperGroup | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        self.raw_args = tuple(args)
        try:
            return super().make_context(info_name, hoist_global_options(args), parent, **extra)
        except UsageError as error:
            self._usage_error(error)

    def resolve_command(  # type: ignore[override]
        self, ctx: typer.Context, args: list[str]
    ) -> tuple[str | None, Any, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            raise BadInput(
                f"there is no command {name!r}",
                hint=f"Did you mean `lumen {close[0]}`?"
                if close
                else "Run `lumen help` to see the commands.",
            )
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except LumenError as error:
            self._report(ctx, error)
        except KeyboardInterrupt:
            typer.echo(err=True)  # off the ^C
            self._report(ctx, Interrupted(ctx.invoked_subcommand))
        except UsageError as error:
            self._usage_error(error)

    def _usage_error(self, error: Exception) -> NoReturn:
        """A parse failure as our other errors look; bare ``lumen GROUP`` prints help."""
        failed: Any = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError" and failed is not None:
            typer.echo(failed.get_help())  # `lumen` or `lumen config` alone: help, as gh does
            raise typer.Exit(0)
        describe = getattr(error, "format_message", None)  # builds "Missing argument …"
        message = str(describe() if callable(describe) else error).rstrip(".")
        path = failed.command_path if failed is not None else "lumen"
        bad = BadInput(
            message[:1].lower() + message[1:], hint=f"Run `{path} --help` for its usage."
        )
        from lumen_cli.context import AppContext
        from lumen_cli.output import Output

        state = failed.find_root().obj if failed is not None else None
        output = state.output if isinstance(state, AppContext) else Output()
        args = self.raw_args
        options = args[: args.index("--")] if "--" in args else args
        # --json was asked for, even if parsing failed before it: one JSON document still.
        output.json_mode = output.json_mode or "--json" in options
        output.error(bad)
        raise typer.Exit(int(ExitCode.BAD_INPUT))

    @staticmethod
    def _report(ctx: typer.Context, error: LumenError) -> NoReturn:
        from lumen_cli.context import AppContext
        from lumen_cli.output import Output

        state = ctx.obj
        output = state.output if isinstance(state, AppContext) else Output()
        output.error(error)
        raise typer.Exit(int(error.exit_code)) from None


app = typer.Typer(
    name="lumen",
    cls=LumenGroup,
    help=(
        "Turn prompts into video clips with the Lumen video API.\n\n"
        "Try it with no account or network: the sandbox emulates the API on this machine. "
        "`lumen COMMAND --help` tells more about each command.\n\n"
        "**Examples**\n\n"
        '    lumen --sandbox submit "a cat running" --wait --download\n'
        "    lumen auth login\n"
        '    lumen submit "a slow pan over a city at night" -d 6 --wait --download -o clips/\n'
        "    lumen list --status succeeded"
    ),
    no_args_is_help=True,  # bare `lumen` prints the help, and exits 0 (see _usage_error)
    add_completion=False,  # `lumen completion SHELL` is the one way to get a script
    pretty_exceptions_show_locals=False,  # locals may hold the API key
    rich_markup_mode=None,
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


def _root_page(ctx: Any) -> HelpPage:
    from lumen_cli.commands.base import help_page
    from lumen_cli.errors import EXIT_CODES
    from lumen_cli.output.help import Flag

    page = help_page(ctx, commands=[(name, row[2]) for name, row in COMMANDS.items()])
    codes = [Flag(str(int(code)), text.replace("`", "")) for code, text in EXIT_CODES.items()]
    page.extra.append(("EXIT CODES", codes))
    return page


def help_pages() -> list[HelpPage]:
    """The help page of lumen and of every command and sub-command, in the order of
    ``lumen --help`` (for the man page, and the test that runs every example)."""
    from lumen_cli.commands.base import help_page

    root_ctx = typer.Context(typer.main.get_command(app), info_name="lumen")
    pages = [_root_page(root_ctx)]

    def visit(command: Any, ctx: typer.Context) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            sub_ctx = typer.Context(sub, info_name=name, parent=ctx)
            pages.append(help_page(sub_ctx))
            visit(sub, sub_ctx)

    for name in COMMANDS:
        command = load_command(name)
        ctx = typer.Context(command, info_name=name, parent=root_ctx)
        pages.append(help_page(ctx))
        visit(command, ctx)
    return pages


def main() -> NoReturn:
    """Console-script entry point.

    Once lumen is done, its output is flushed and the process ends at once (``os._exit``):
    Python's own shutdown, which takes every module apart one by one, costs 10-30 ms of
    each run, as much as all of ``lumen --version``. Nothing is left for it to do: every
    command closes its files and the history as it ends, and joins its threads.
    """
    import os
    import sys

    try:
        app(prog_name="lumen")
        code: object = 0
    except SystemExit as done:
        code = done.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # as Python does with a message for SystemExit
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # the reader went away (`lumen list | head -1`)
        code = code or 1
    os._exit(code or 0)
