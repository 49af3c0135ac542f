"""Tables on a terminal: ids whole, free text folded, columns hidden to fit the width.

When a table is too wide, columns whose value is the same on every row go first (a note
says what they held), then columns from the right; the first column (the id) always stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# Free text may fold onto several lines, down to this width; other columns stay whole.
FOLDING_MIN_WIDTH = {"PROMPT": 12, "RESULT": 40, "SAVED": 40, "VALUE": 20}
GAP = 2  # rich pads each cell by one space a side


def print_table(
    console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]]
) -> tuple[list[str], list[str]]:
    """Print *rows* under *headers* on *console*, fitted to its width.

    Returns the headers hidden because their value is the same on every row (as
    ``"MODEL seedance-2"``), and those hidden for want of room.
    """
    from rich.table import Table

    shown, constant, dropped = columns_that_fit(headers, rows, console.width)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for index in shown:
        header = headers[index]
        longest = max([len(header), *(len(row[index]) for row in rows)])
        folds = header in FOLDING_MIN_WIDTH
        table.add_column(
            header,
            overflow="fold",
            no_wrap=not folds,
            min_width=min(longest, FOLDING_MIN_WIDTH[header]) if folds else None,
        )
    for row in rows:
        table.add_row(*(row[index] for index in shown))
    console.print(table)
    same = [f"{headers[index]} {rows[0][index]}" for index in constant]
    return same, [headers[index] for index in dropped]


def columns_that_fit(
    headers: Sequence[str], rows: Sequence[Sequence[str]], width: int
) -> tuple[list[int], list[int], list[int]]:
    """Which columns to show in *width*: ``(shown, hidden as constant, hidden for room)``."""

    def need(index: int) -> int:
        longest = max([len(headers[index]), *(len(row[index]) for row in rows)])
        return min(longest, FOLDING_MIN_WIDTH.get(headers[index], longest))

    def total(columns: list[int]) -> int:
        return sum(need(index) for index in columns) + GAP * (len(columns) - 1)

    shown = list(range(len(headers)))
    constant: list[int] = []
    if len(rows) > 1:
        for index in reversed(shown[1:]):
            if total(shown) <= width:
                break
            if len({row[index] for row in rows}) == 1 and rows[0][index]:
                shown.remove(index)
                constant.insert(0, index)
    dropped: list[int] = []
    while len(shown) > 1 and total(shown) > width:
        dropped.insert(0, shown.pop())
    return shown, constant, dropped
