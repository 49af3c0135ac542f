"""The one table from HTTP statuses to errors, and the order of exit codes across jobs."""

from __future__ import annotations

import pytest

from lumen_cli.errors import (
    EXIT_CODES,
    WORST_ORDER_NOTE,
    AuthRejected,
    BadRequest,
    ExitCode,
    InsufficientCredits,
    NotFound,
    RateLimited,
    ServerError,
    error_for_status,
    exit_code_for_job,
    exit_code_table,
    worst_exit_code,
)
from tests.conftest import CLI
from tests.support import ROOT


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [
        (400, BadRequest, 2),
        (401, AuthRejected, 3),
        (402, InsufficientCredits, 4),
        (404, NotFound, 5),
        (422, BadRequest, 2),
        (429, RateLimited, 6),
        (500, ServerError, 6),
        (503, ServerError, 6),
    ],
)
def test_statuses_become_typed_errors(status: int, cls: type, code: int) -> None:
    error = error_for_status(status, "the server's words")
    assert type(error) is cls
    assert error.exit_code == code
    assert error.message == "the server's words"
    assert error.to_json()["error"] == {
        "type": error.kind,
        "message": "the server's words",
        "exit_code": code,
        "status": status,
        **({"hint": error.hint} if error.hint else {}),
    }


def test_worst_exit_code_orders_job_outcomes_first() -> None:
    assert worst_exit_code(set()) == ExitCode.OK
    assert worst_exit_code({ExitCode.OK}) == ExitCode.OK
    assert worst_exit_code({ExitCode.NOT_FOUND, ExitCode.JOB_CANCELLED}) == ExitCode.JOB_CANCELLED
    assert worst_exit_code({ExitCode.JOB_CANCELLED, ExitCode.JOB_FAILED}) == ExitCode.JOB_FAILED
    assert worst_exit_code({ExitCode.TIMEOUT, ExitCode.UNAVAILABLE}) == ExitCode.TIMEOUT
    assert worst_exit_code({ExitCode.BAD_INPUT, ExitCode.NOT_FOUND}) == ExitCode.NOT_FOUND


def test_readme_and_help_show_the_one_exit_code_table(cli: CLI) -> None:
    readme = (ROOT / "README.md").read_text()
    assert exit_code_table() in readme
    assert WORST_ORDER_NOTE in readme
    shown = " ".join(cli("--help").stdout.split())
    for code, meaning in EXIT_CODES.items():
        words = " ".join(meaning.replace("`", "").split())
        assert f"{int(code)} {words}" in shown.replace("│", "").replace("  ", " "), code


@pytest.mark.parametrize(
    ("status", "code"),
    [("succeeded", 0), ("failed", 7), ("cancelled", 8), ("queued", 9), ("processing", 9)],
)
def test_job_statuses_end_runs_through_the_table(status: str, code: int) -> None:
    assert exit_code_for_job(status) == code


def test_every_exit_code_is_documented() -> None:
    assert set(EXIT_CODES) == set(ExitCode)
