"""Tables on a terminal: ids whole, free text folded, columns hidden from the right to fit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# Free text may fold onto several lines; every other column keeps its values whole.
FOLDING_COLUMNS = frozenset({"PROMPT", "SAVED", "VALUE"})
FOLDED_MIN_WIDTH = 12


def print_table(
    console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]]
) -> list[str]:
    """Print *rows* under *headers* on *console*; return the headers hidden to fit its width."""
    from rich.table import Table

    shown = columns_that_fit(headers, rows, console.width)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for index in shown:
        header = headers[index]
        table.add_column(header, overflow="fold", no_wrap=header not in FOLDING_COLUMNS)
    for row in rows:
        table.add_row(*(row[index] for index in shown))
    console.print(table)
    return [header for index, header in enumerate(headers) if index not in shown]


def columns_that_fit(
    headers: Sequence[str], rows: Sequence[Sequence[str]], width: int
) -> list[int]:
    """Indexes of the columns to show: from the left, as many as fit in *width*.

    Short fields need their longest value; free text can fold down to a dozen
    characters. The first column (the id) is always shown.
    """
    shown: list[int] = []
    used = 0
    for index, header in enumerate(headers):
        longest = max([len(header), *(len(row[index]) for row in rows)])
        need = min(longest, FOLDED_MIN_WIDTH) if header in FOLDING_COLUMNS else longest
        gap = 2 if shown else 0  # rich pads each cell by one space a side
        if shown and used + gap + need > width:
            break
        shown.append(index)
        used += gap + need
    return shown
