"""How ``lumen usage`` reads: a table and a bar chart of seconds per day on a terminal,
tab-separated records when piped, one JSON document with ``--json``. All three come from
the one document (``services.usage.Usage.to_json``).

The piped record of a group, in this order: the group (model, day, profile or batch),
jobs, succeeded, failed, cancelled, unknown, running, seconds requested, delivered and
refunded, estimated credits and estimated refunded credits (empty without ``[prices]``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumen_cli.pricing import Estimate, format_credits
from lumen_cli.text import escape

if TYPE_CHECKING:
    from rich.console import Console

    from lumen_cli.output import Output

CHART_DAYS = 31  # the chart shows at most the last this many days
DELIVERED_BAR = "█"
OTHER_BAR = "░"
OUTCOMES = ("succeeded", "failed", "cancelled", "unknown", "running")  # the document's order
SECONDS_FIELDS = ("seconds_requested", "seconds_delivered", "seconds_refunded")
CREDITS_FIELDS = ("credits_estimate", "credits_refunded_estimate")
PLAIN_FIELDS = ("jobs", *OUTCOMES, *SECONDS_FIELDS, *CREDITS_FIELDS)
_NONE = {"model": "(no model)", "batch": "(no batch)", "profile": "(none)", "day": "(none)"}
# Outcome columns shown on a terminal even when no job has that outcome.
_ALWAYS = ("succeeded", "failed")
_HEADERS = {"succeeded": "OK"}  # short, so that the table fits 80 columns

Document = Mapping[str, Any]


def show_usage(out: Output, usage: Document) -> None:
    """The *usage* document as JSON, plain records or, on a terminal, a table and a chart."""
    if out.json_mode:
        out.json(usage)
    elif not out.stdout_tty:
        by = usage["by"]
        for group in usage["groups"]:
            values = [group[by], *(group[name] for name in PLAIN_FIELDS)]
            out.record(["" if value is None else value for value in values])
    else:
        _show_terminal(out, usage)


def _show_terminal(out: Output, usage: Document) -> None:
    from rich.table import Table
    from rich.text import Text

    by, total = usage["by"], usage["total"]
    priced = usage["prices"] is not None
    # The outcomes no job has are left out, but for these two.
    outcomes = [name for name in OUTCOMES if total[name] or name in _ALWAYS]
    headers = ["JOBS", *(_HEADERS.get(name, name.upper()) for name in outcomes)]
    headers += ["SECONDS", "DELIVERED", "REFUNDED"]
    if priced:
        headers.append("CREDITS (EST.)")

    def cells(tally: Document) -> list[str]:
        row = [str(tally["jobs"]), *(str(tally[name]) for name in outcomes)]
        row += [f"{tally[name]} s" for name in SECONDS_FIELDS]
        if priced:
            row.append(format_credits(tally["credits_estimate"]))
        return row

    labels = [
        Text(escape(group[by])) if group[by] is not None else Text(_NONE[by], style="dim")
        for group in usage["groups"]
    ]
    table = Table(box=None, pad_edge=False, header_style="bold")
    widest = max(len(by), *(len(label) for label in labels))
    table.add_column(by.upper(), overflow="fold", min_width=min(widest, 24))
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    for label, group in zip(labels, usage["groups"], strict=True):
        table.add_row(label, *cells(group))
    if len(labels) > 1:
        table.add_row()  # a blank line above the total
        table.add_row(Text("total", style="bold"), *cells(total))
    console = out.console(stderr=False)
    console.print(table)
    if priced:
        refunded = total["credits_refunded_estimate"]
        out.note(
            f"credits are estimates from [prices] in {usage['prices']} (the API bills the "
            "actual duration at your account's price)"
            + (
                f"; failed jobs' {format_credits(refunded)} credits were refunded"
                if refunded
                else ""
            )
        )
        for what, seconds in sorted(usage["unpriced"].items()):
            out.warn(f"no price for {what} ({seconds} s of video): left out of the estimate")
    else:
        out.hint(
            "Add a [prices] table to the config file to estimate credits "
            '(README, "Prices"; `lumen config path` names the file).'
        )
    chart(console, usage["days"])


def chart(console: Console, days: list[Document]) -> None:
    """A bar per day of seconds of video asked for: delivered, then the rest. *days*: the
    document's ``days``, oldest first; days without jobs in between get an empty bar."""
    from rich.text import Text

    if not days:
        return
    by_day = {day["day"]: day for day in days}
    last = dt.date.fromisoformat(days[-1]["day"])
    first = max(dt.date.fromisoformat(days[0]["day"]), last - dt.timedelta(CHART_DAYS - 1))
    count = (last - first).days + 1
    shown = [(first + dt.timedelta(offset)).isoformat() for offset in range(count)]
    cut = shown[0] != days[0]["day"]
    rows = [(day, by_day.get(day)) for day in shown]
    most = max((row["seconds_requested"] for _, row in rows if row), default=0) or 1
    labels = [f"{row['seconds_requested'] if row else 0} s" for _, row in rows]
    room = max(10, console.width - len(shown[0]) - max(len(label) for label in labels) - 4)
    title = Text("seconds of video per day (")
    title.append(DELIVERED_BAR, style="green")
    title.append(" delivered, ")
    title.append(OTHER_BAR, style="dim")
    title.append(" failed, cancelled, running or unknown)")
    if cut:
        title.append(f"; the last {CHART_DAYS} days", style="dim")
    console.print()
    console.print(title)
    for (day, row), label in zip(rows, labels, strict=True):
        line = Text(f"{day}  ")
        if row is not None and row["seconds_requested"]:
            asked, delivered = row["seconds_requested"], row["seconds_delivered"]
            bar = max(1, round(asked / most * room))
            full = min(bar, max(1 if delivered else 0, round(delivered / most * room)))
            line.append(DELIVERED_BAR * full, style="green")
            line.append(OTHER_BAR * (bar - full), style="dim")
            line.append(" ")
        line.append(label, style="" if row else "dim")
        console.print(line)


def cost_note(estimate: Estimate | None, seconds: int, config: Path) -> str:
    """What a dry run says of its cost: the estimate for its *seconds* of video, what no
    price covers, or that *config* has no ``[prices]`` (*estimate* None)."""
    if estimate is None:
        return (
            f"no cost estimate: {config} has no [prices] table "
            '(credits per second by model: README, "Prices")'
        )
    missing = ", ".join(f"{what} ({sec} s)" for what, sec in sorted(estimate.unpriced.items()))
    if estimate.complete:
        return (
            f"estimated cost: {format_credits(estimate.credits)} credits for {seconds} s of "
            f"video ([prices] in {config})"
        )
    if not estimate.credits:
        return f"no cost estimate: no price for {missing} in [prices] of {config}"
    return (
        f"estimated cost: at least {format_credits(estimate.credits)} credits; no price for "
        f"{missing} in [prices] of {config}"
    )
