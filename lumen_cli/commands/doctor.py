"""``lumen doctor``: check the set-up, one line per check."""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass

import typer

from lumen_cli import __version__
from lumen_cli.commands.options import JsonOutput
from lumen_cli.context import AppContext, app_context
from lumen_cli.errors import ExitCode, LumenError, NoKey, worst_exit_code
from lumen_cli.text import plural


@dataclass
class Check:
    name: str
    state: str  # "ok", "fail" or "skip"
    detail: str
    hint: str | None = None
    exit_code: int = ExitCode.OK


class Skipped(Exception):
    """A check that cannot run because an earlier one failed."""


def _config(state: AppContext) -> str:
    file = state.config_file
    if not file.path.exists():
        return f"{file.path} (not created yet; defaults apply)"
    state.settings  # noqa: B018 - parses the file; errors become a failed check
    if file.loose_permissions():
        raise LumenError(f"{file.path} is readable by others", hint=f"chmod 600 {file.path}")
    return f"{file.path} (profile {state.settings.profile})"


def _key(state: AppContext) -> str:
    from lumen_cli.config import mask

    key = state.api_key
    if not key:
        raise NoKey()
    return f"{mask(key)} from {state.settings.get('api_key').source}"


def _api(state: AppContext) -> str:
    if not state.api_key:
        raise Skipped("not checked: there is no key to check")
    if not state.client.key_is_accepted():
        from lumen_cli.errors import AuthRejected

        raise AuthRejected("the API rejected the key", status=401)
    return f"{state.base_url} answers and accepts the key"


def _history(state: AppContext) -> str:
    counts = state.history.counts()
    total = sum(counts.values())
    unknown = counts.get("unknown", 0)
    note = f"; {plural(unknown, 'submit')} with unknown outcome" if unknown else ""
    shared = "shared, " if state.history.shared else ""
    return f"{state.history.where} ({shared}{plural(total, 'job')}{note})"


CHECKS: list[tuple[str, Callable[[AppContext], str]]] = [
    ("config", _config),
    ("key", _key),
    ("api", _api),
    ("history", _history),
]


def doctor(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """Check the set-up: config file, key, API and history.

    One line per check: ok, fail or skip (a check that an earlier failure makes moot), with
    what to do after the lines. Exits non-zero if a check fails (the worst code of those).

    **Examples**

        lumen doctor

        lumen --sandbox doctor --json
    """
    state = app_context(ctx, json_output=json_output)
    out = state.output
    checks = [Check("lumen", "ok", f"{__version__} on Python {platform.python_version()}")]
    for name, run in CHECKS:
        try:
            checks.append(Check(name, "ok", run(state)))
        except Skipped as skipped:
            checks.append(Check(name, "skip", str(skipped)))
        except LumenError as error:
            checks.append(Check(name, "fail", error.message, error.hint, error.exit_code))
    if json_output:
        out.json([{**check.__dict__, "ok": check.state != "fail"} for check in checks])
    elif out.stdout_tty:
        out.fields([(f"{check.state:<4}  {check.name}", check.detail) for check in checks])
    else:
        for check in checks:
            out.record([check.state, check.name, check.detail])
    for hint in dict.fromkeys(check.hint for check in checks if check.hint):
        out.hint(hint or "")
    code = worst_exit_code(ExitCode(check.exit_code) for check in checks if check.state == "fail")
    if code:
        raise typer.Exit(code)
