"""Rendering rules: ids are never truncated, JSON errors are one document."""

from __future__ import annotations

import json

import pytest

from lumen_cli.errors import NotFound
from lumen_cli.output import Output
from lumen_cli.output.tables import columns_that_fit

HEADERS = ["ID", "STATUS", "MODEL", "PROMPT"]
ROWS = [["v" + "a" * 24, "succeeded", "seedance-2", "a very long prompt " * 5]]


def test_every_column_fits_a_wide_terminal() -> None:
    assert columns_that_fit(HEADERS, ROWS, 200) == ([0, 1, 2, 3], [], [])


def test_narrow_terminals_drop_columns_from_the_right_never_the_id() -> None:
    # id 25 + 2 + status 9 = 36; the model (10 more + gap) does not fit in 40
    assert columns_that_fit(HEADERS, ROWS, 40) == ([0, 1], [], [2, 3])
    assert columns_that_fit(HEADERS, ROWS, 10) == ([0], [], [1, 2, 3])


def test_free_text_folds_instead_of_hiding() -> None:
    # the prompt needs only 12 columns, since it may fold
    width = 25 + 2 + 9 + 2 + 10 + 2 + 12
    assert columns_that_fit(HEADERS, ROWS, width) == ([0, 1, 2, 3], [], [])


def test_columns_that_are_the_same_on_every_row_go_first() -> None:
    rows = [["v1", "succeeded", "seedance-2", "a cat"], ["v2", "failed", "seedance-2", "a dog"]]
    assert columns_that_fit(HEADERS, rows, 200) == ([0, 1, 2, 3], [], [])  # room: keep it
    assert columns_that_fit(HEADERS, rows, 30) == ([0, 1, 3], [2], [])


def test_json_error_is_written_once(capsys: pytest.CaptureFixture[str]) -> None:
    output = Output()
    output.json_mode = True
    output.error(NotFound("task not found", status=404))
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["exit_code"] == 5
    assert "error: task not found" in captured.err
    output.error(NotFound("again", status=404))
    assert capsys.readouterr().out == ""  # stdout keeps its one document
