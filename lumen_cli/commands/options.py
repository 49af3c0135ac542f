"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOutput = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout and nothing else."),
]
Quiet = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Print only the job id(s) on stdout."),
]
JobId = Annotated[
    str,
    typer.Argument(help="Job id, as printed by `lumen submit`.", show_default=False, metavar="ID"),
]
OutputTemplate = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Where to save: a path, a directory, or a template with {id} {index} {model} "
        "{prompt} {date}. Default: the `output` setting, then ./{id}.mp4.",
        show_default=False,
    ),
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout", min=0.0, help="Give up after this many seconds (exit 9).", show_default=False
    ),
]
Interval = Annotated[
    float | None,
    typer.Option(
        "--interval",
        min=0.1,
        help="Poll every this many seconds (default: adaptive, 2 s growing to 15 s).",
        show_default=False,
    ),
]
Download = Annotated[
    bool, typer.Option("--download", help="Download each job as soon as it succeeds.")
]
