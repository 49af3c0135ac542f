"""The command classes every lumen command and group is built with: their help is lumen's own
plain page (``output/help.py``), made from the docstring and the parameters.

Commands name these with Typer's public ``cls=`` (``typer.Typer(cls=Group)``,
``@app.command(cls=Command)``); ``app.load_command`` does it for single commands.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any, get_args

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from lumen_cli.output.help import Flag, HelpPage, parse_docstring, render

ARGUMENTS = "ARGUMENTS"
FLAGS = "FLAGS"


def help_page(ctx: Any, *, commands: list[tuple[str, str]] | None = None) -> HelpPage:
    """The help page of the command of *ctx*: its docstring, usage and parameters."""
    command = ctx.command
    summary, description, examples = parse_docstring(command.help or "")
    sections: dict[str, list[Flag]] = {ARGUMENTS: [], FLAGS: []}
    usage = [ctx.command_path]
    has_options = False
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            name = (param.metavar or param.name or "").upper()
            shown = name + ("..." if param.nargs != 1 else "")
            usage.append(shown if param.required else f"[{shown}]")
            sections[ARGUMENTS].append(Flag(shown, param.help or "", _notes(param)))
        else:
            has_options = True
            panel = (getattr(param, "rich_help_panel", None) or FLAGS).upper()
            sections.setdefault(panel, []).append(
                Flag(_option_names(param), param.help or "", _notes(param))
            )
    sections[FLAGS].append(Flag("-h, --help", "Show this help."))
    if has_options:
        usage.insert(1, "[FLAGS]")
    if commands is None and hasattr(command, "list_commands"):
        commands = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not getattr(sub, "hidden", False):
                commands.append((name, parse_docstring(sub.help or "")[0]))
    if commands:
        usage.append("COMMAND [ARGS]...")
    ordered = [ARGUMENTS, FLAGS, *(name for name in sections if name not in (ARGUMENTS, FLAGS))]
    return HelpPage(
        path=ctx.command_path,
        usage=" ".join(usage),
        summary=summary,
        description=description,
        sections=[(name, sections[name]) for name in ordered],
        commands=commands or [],
        examples=examples,
        extra=_epilog_sections(command.epilog or ""),
    )


def _epilog_sections(epilog: str) -> list[tuple[str, list[Flag]]]:
    """An epilog of ``TITLE`` then ``name<TAB>text`` lines, as a section of the page."""
    lines = epilog.strip().splitlines()
    if not lines:
        return []
    rows = [line.split("\t", 1) for line in lines[1:] if "\t" in line]
    return [(lines[0], [Flag(name, text) for name, text in rows])]


def _option_names(param: Any) -> str:
    names = sorted(param.opts, key=lambda opt: opt.startswith("--"))  # -m, --model
    text = ", ".join(names)
    if getattr(param, "secondary_opts", None):
        text += " / " + ", ".join(param.secondary_opts)
    if not getattr(param, "is_flag", False) and not getattr(param, "count", False):
        text += " " + _metavar(param)
    return text


# How an option's value reads in the help, by the option's name (else its name in capitals).
METAVARS = {
    "duration": "SECONDS",
    "timeout": "SECONDS",
    "interval": "SECONDS",
    "exec_timeout": "SECONDS",
    "job_seconds": "SECONDS",
    "tolerance": "SECONDS",
    "output": "TEMPLATE",
    "image": "URL|FILE",
    "last_image": "URL|FILE",
    "ref_image": "URL|FILE",
    "ref_video": "URL|FILE",
    "webhook_url": "URL",
    "forward_to": "URL",
    "video_url": "URL",
    "base_url": "URL",
    "webhook_secret": "SECRET",
    "secret": "SECRET",
    "aspect_ratio": "RATIO",
    "limit": "N",
    "concurrency": "N",
    "download_workers": "N",
    "results": "FILE",
    "file_format": "{jsonl|csv|text}",
    "fetch_inputs": "{none|loopback|all}",
    "submit_rate_limit": "N",
    "since": "WHEN",
    "exec_command": "COMMAND",
    "timestamp": "UNIX_TIME",
    "job_id": "ID",
    "by": "{model|day|profile|batch}",
    "max_credits": "CREDITS",
}


def _metavar(param: Any) -> str:
    if param.metavar:
        return str(param.metavar)
    if param.name in METAVARS:
        return METAVARS[param.name]
    descriptor = getattr(param, "type_descriptor", None)
    choices = getattr(descriptor, "choices", None)
    if choices:
        return "{" + "|".join(str(getattr(c, "value", c)) for c in choices) + "}"
    return str(param.name or "value").upper()


def _notes(param: Any) -> tuple[str, ...]:
    from lumen_cli.config import KEYS

    notes = []
    if param.param_type_name == "option" and param.required:
        notes.append("required")
    if getattr(param, "multiple", False) or getattr(param.type_descriptor, "is_list", False):
        notes.append("repeatable")
    # An option named as a setting's flag shows the setting, unless it says it is none
    # (show_envvar=False: `list --model` filters; it does not pick a model).
    setting = next(
        (key for key in KEYS.values() if key.flag and key.flag in getattr(param, "opts", ())),
        None,
    )
    if getattr(param, "show_envvar", True) is False:
        setting = None
    if setting is not None:
        notes.append(f"setting: {setting.name}")
        notes.append(f"env: {setting.env_var}")
        if setting.default not in (None, ""):
            notes.append(f"default: {setting.default}")
    else:
        default = param.default
        shown = getattr(param, "show_default", True) is not False
        if shown and default not in (None, False, (), []) and not callable(default):
            notes.append(f"default: {getattr(default, 'value', default)}")
    envvar = getattr(param, "envvar", None)
    if isinstance(envvar, str) and setting is None:
        notes.append(f"env: {envvar}")
    return tuple(notes)


def terminal_width() -> int:
    return shutil.get_terminal_size((100, 24)).columns


# -- plain values -------------------------------------------------------------------------
# Typer converts each parameter's value through a pydantic TypeAdapter, and importing pydantic
# alone costs about 60 ms: more than half of a `lumen list`. lumen's parameters are text,
# integers and numbers (with bounds), flags, and lists of text: those are converted here, the
# few others (a choice from an enum) still by Typer. tests/test_app.py checks that the fast
# paths import no pydantic, which also catches a Typer that stops asking for this conversion.

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"", "0", "false", "f", "no", "n", "off"})


@dataclass(frozen=True)
class PlainValue:
    """How one parameter's plain value is converted: the ``coerce`` Typer asks of a
    parameter's runtime conversion."""

    kind: type
    low: float | None = None
    high: float | None = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        many = param.multiple or param.nargs == -1
        if value is None:
            return () if many else None
        if not many:
            return self._one(value, param, ctx)
        if isinstance(value, str):
            raise typer.BadParameter("takes several values, not one text", ctx=ctx, param=param)
        return [self._one(item, param, ctx) for item in value]

    def _one(self, value: Any, param: Any, ctx: Any) -> Any:
        def bad(message: str) -> typer.BadParameter:
            return typer.BadParameter(message, ctx=ctx, param=param)

        if self.kind is str:
            return value if isinstance(value, str) else str(value)
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word not in _TRUE and word not in _FALSE:
                raise bad(f"{value!r} is none of 1/0, true/false, yes/no, on/off")
            return word in _TRUE
        try:
            number = self.kind(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            what = "an integer" if self.kind is int else "a number"
            raise bad(f"{value!r} is not {what}") from None
        if number != number:  # NaN
            raise bad(f"{value!r} is not a number")
        if self.low is not None and number < self.low:
            raise bad(f"{number} is below the minimum, {_number(self.low)}")
        if self.high is not None and number > self.high:
            raise bad(f"{number} is above the maximum, {_number(self.high)}")
        return number


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def plain_value(param: Any) -> PlainValue | None:
    """How *param*'s value is converted here; None for a value Typer must convert."""
    descriptor = param.type_descriptor
    info = descriptor.parameter_info
    kind = descriptor.annotation
    if descriptor.is_list:
        (kind,) = get_args(kind) or (None,)
    elif descriptor.is_tuple or descriptor.is_file or descriptor.is_path:
        return None
    if kind not in (str, int, float, bool) or info.parser is not None or info.clamp:
        return None
    return PlainValue(kind, info.min, info.max)


class _PlainOption(TyperOption):
    def get_runtime_param(self) -> Any:
        return plain_value(self) or super().get_runtime_param()


class _PlainArgument(TyperArgument):
    def get_runtime_param(self) -> Any:
        return plain_value(self) or super().get_runtime_param()


_PLAIN: dict[type, type] = {TyperOption: _PlainOption, TyperArgument: _PlainArgument}


def convert_plainly(params: list[Any]) -> list[Any]:
    """*params*, made to convert their plain values here rather than through pydantic.

    Commands call it on every parameter, their ``--help`` option included.
    """
    for param in params:
        plain = _PLAIN.get(type(param))
        if plain is not None:
            param.__class__ = plain  # a subclass that only replaces the conversion
    return params


class PlainCommand:
    """What every lumen command and group shares (a mixin before Typer's class): plain
    values converted here (see :func:`convert_plainly`), and lumen's plain help page."""

    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        convert_plainly(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        return convert_plainly([super().get_help_option(ctx)])[0]  # type: ignore[misc]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(render(help_page(ctx), terminal_width()))


class Command(PlainCommand, TyperCommand):
    """A lumen command: its help is lumen's plain page."""


class Group(PlainCommand, TyperGroup):
    """A lumen command group (``config``, ``auth``…): its help lists its commands."""


def group(help: str, *, epilog: str | None = None, cls: type[Group] = Group) -> typer.Typer:
    """A Typer app for a command group, built the lumen way (*epilog*: lines at the end;
    *cls*: a ``Group`` of the caller's, for a group that routes its arguments itself)."""
    return typer.Typer(
        cls=cls,
        help=help,
        epilog=epilog,
        add_completion=False,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
