"""``lumen sandbox``: the built-in emulator of the API, on this machine."""

from __future__ import annotations

from typing import Annotated

import typer

from lumen_cli.commands.base import Command, group
from lumen_cli.context import app_context
from lumen_cli.errors import ExitCode

app = group(
    """Run the built-in emulator of the API: no account, no network.

`lumen --sandbox COMMAND` starts one in the background when none runs; `sandbox serve`
runs one in the foreground, where you can watch its requests.

**Examples**

    lumen sandbox serve --port 8765

    lumen sandbox stop
"""
)


@app.command("serve", cls=Command)
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")
    ] = 8765,
    job_seconds: Annotated[
        float, typer.Option("--job-seconds", min=0.0, help="How long each job takes to finish.")
    ] = 3.0,
    submit_rate_limit: Annotated[
        int | None,
        typer.Option(
            "--submit-rate-limit",
            min=1,
            help="Answer 429 (Retry-After: 1) to submits beyond this many per second.",
            show_default=False,
        ),
    ] = None,
    fetch_inputs: Annotated[
        str,
        typer.Option(
            "--fetch-inputs",
            help="Input URLs of a job fetched before it is created (400 if one fails): "
            "none, loopback (this machine only) or all.",
        ),
    ] = "loopback",
) -> None:
    """Serve the sandbox in the foreground until Ctrl-C.

    It answers the API's routes with the API's rules, and serves small real MP4 results
    (one second long, whatever duration was asked). Any key starting sk-lumen- is
    accepted; some inputs choose what happens:

    - the key sk-lumen-revoked answers 401, sk-lumen-nocredit answers 402
    - a prompt with "blocked" answers 400 (the content policy)
    - a prompt with "fail" ends failed, "cancel" ends cancelled, "forever" never ends
    - models seedance-2, seedance-2-fast and veo-3-1 exist; any other answers 404
    - input URLs on this machine must serve an image (a video for --ref-video), else 400
    - PUT /uploads/{sha256}{ext} keeps a file in memory: `lumen --sandbox` puts local inputs there

    **Examples**

        lumen sandbox serve --port 8765

        LUMEN_BASE_URL=http://127.0.0.1:8765 LUMEN_API_KEY=sk-lumen-test lumen submit "a cat"
    """
    from lumen_cli.sandbox import SandboxConfig, SandboxServer

    state = app_context(ctx)
    from lumen_cli.net import is_loopback

    if not is_loopback(host):
        state.output.warn(f"binding {host}: the sandbox is reachable from other machines")
    from lumen_cli.errors import BadInput

    try:
        config = SandboxConfig(
            host=host,
            port=port,
            job_seconds=job_seconds,
            submit_rate_limit=submit_rate_limit,
            fetch_inputs=fetch_inputs,
        )
    except ValueError as exc:
        raise BadInput(f"--fetch-inputs: {exc}") from None
    server = SandboxServer(config)
    try:
        server.start()
    except OSError as exc:
        raise BadInput(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="Pick another --port, or 0 for any free one.",
        ) from None
    state.output.info(f"lumen sandbox listening on {server.url} (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        state.output.info("sandbox stopped")
    finally:
        server.stop()


@app.command("stop", cls=Command)
def stop(ctx: typer.Context) -> None:
    """Stop the background sandbox that `lumen --sandbox` started.

    Only the one this user's lumen started: a sandbox that was found running (a
    `lumen sandbox serve` elsewhere) is left alone, and the exit code is then 1.

    **Example**

        lumen sandbox stop
    """
    from lumen_cli.launcher import stop_sandbox

    state = app_context(ctx)
    result = stop_sandbox(state.sandbox_dir)
    if result.outcome == "stopped":
        state.output.info(f"stopped the sandbox on {result.url}")
    elif result.outcome == "none":
        state.output.info("no background sandbox is running")
    else:
        state.output.info(f"left the sandbox on {result.url} running: {result.reason}")
        raise typer.Exit(ExitCode.ERROR)


@app.command("status", cls=Command)
def status(ctx: typer.Context) -> None:
    """Print the background sandbox's URL; exit 1 when none is running.

    **Examples**

        lumen sandbox status          # exit 1 when none is running

        lumen --sandbox submit "a cat" -q && lumen sandbox status
    """
    from lumen_cli.launcher import running_sandbox

    state = app_context(ctx)
    url = running_sandbox(state.sandbox_dir)
    if url is None:
        state.output.info("no background sandbox is running")
        raise typer.Exit(ExitCode.ERROR)
    state.output.data(url)
