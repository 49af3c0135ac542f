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


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    exit_code: int = ExitCode.OK


def _config(state: AppContext) -> str:
    file = state.config_file
    if not file.path.exists():
        return f"{file.path} (not created yet; defaults apply)"
    state.settings  # noqa: B018 - parses the file; errors become a failed check
    if file.loose_permissions():
        raise LumenError(f"{file.path} is readable by others", hint="chmod 600 it")
    return f"{file.path} (profile {state.settings.profile})"


def _key(state: AppContext) -> str:
    from lumen_cli.config import mask

    key = state.api_key
    if not key:
        raise NoKey()
    return f"{mask(key)} from {state.settings.get('api_key').source}"


def _api(state: AppContext) -> str:
    if not state.api_key:
        raise NoKey("not checked: no API key is set")
    if not state.client.key_is_accepted():
        from lumen_cli.errors import AuthRejected

        raise AuthRejected("the API rejected the key", status=401)
    return f"{state.base_url} answers and accepts the key"


def _history(state: AppContext) -> str:
    records = state.history.list()
    unknown = sum(1 for r in records if r.status == "unknown")
    note = f"; {unknown} submit(s) with unknown outcome" if unknown else ""
    return f"{state.history.path} ({len(records)} jobs{note})"


CHECKS: list[tuple[str, Callable[[AppContext], str]]] = [
    ("config", _config),
    ("key", _key),
    ("api", _api),
    ("history", _history),
]


def doctor(ctx: typer.Context, json_output: JsonOutput = False) -> None:
    """Check the set-up: config file, key, API and history.

    Exits non-zero if a check fails (the worst code of the failed checks).

    **Examples**

        lumen doctor

        lumen --sandbox doctor --json
    """
    state = app_context(ctx, json_output=json_output)
    checks = [Check("lumen", True, f"{__version__} on Python {platform.python_version()}")]
    for name, run in CHECKS:
        try:
            checks.append(Check(name, True, run(state)))
        except LumenError as error:
            detail = error.message + (f" ({error.hint})" if error.hint else "")
            checks.append(Check(name, False, detail, error.exit_code))
    if json_output:
        state.output.json([check.__dict__ for check in checks])
    else:
        for check in checks:
            state.output.data(f"{'ok' if check.ok else 'FAIL':<4}  {check.name:<8} {check.detail}")
    code = worst_exit_code(ExitCode(check.exit_code) for check in checks if not check.ok)
    if code:
        raise typer.Exit(code)
