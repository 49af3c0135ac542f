"""``lumen webhook``: receive signed results, check a signature offline, send a test delivery."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from lumen_cli.commands.base import Command, group
from lumen_cli.commands.inputs import read_bytes
from lumen_cli.commands.options import JsonOutput
from lumen_cli.context import app_context
from lumen_cli.errors import BadInput, ExitCode, exit_code_for_answer
from lumen_cli.net import check_http_url

if TYPE_CHECKING:
    from lumen_cli.context import AppContext

app = group(
    "Receive, check and send signed job results (webhooks).\n\n"
    "listen receives the API's signed deliveries, verify checks a signature offline, "
    "send sends a signed test delivery to your own handler.\n\n"
    "**Examples**\n\n"
    "    lumen webhook listen --download -o 'clips/{id}.mp4'\n\n"
    "    lumen webhook send http://127.0.0.1:8787/hook --id v123\n"
)

NO_SIGNING_KEY_HINT = (
    "Pass --secret, set LUMEN_WEBHOOK_SECRET, or store it with "
    "`lumen config set webhook_secret` (the same secret you submit jobs with)."
)
BODY_SHOWN = 1000  # characters of a handler's answer that `send` prints
ACTIONS = "On each event"

Secret = Annotated[
    str | None,
    typer.Option(
        "--secret",
        help=(
            "Signing secret (default: LUMEN_WEBHOOK_SECRET, then the configured webhook_secret; "
            "prefer those: arguments are visible to other users in `ps`)."
        ),
        show_default=False,
    ),
]


class EventStatus(StrEnum):
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


def _secret(state: AppContext, flag: str | None) -> str:
    value = state.settings.value("webhook_secret", flag)
    if not value:
        raise BadInput("no webhook secret is set", hint=NO_SIGNING_KEY_HINT)
    try:
        str(value).encode("utf-8")  # the API's secrets are JSON strings: always UTF-8
    except UnicodeEncodeError:
        raise BadInput("the webhook secret is not valid UTF-8", hint=NO_SIGNING_KEY_HINT) from None
    return str(value)


@app.command("listen", cls=Command)
def listen(
    ctx: typer.Context,
    secret: Secret = None,
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to bind; anything but loopback is reachable by others."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port (0: any free one).")
    ] = 8787,
    exec_command: Annotated[
        str | None,
        typer.Option(
            "--exec",
            help=(
                "Shell command run once per event: the raw body on stdin, LUMEN_JOB_ID and "
                "LUMEN_JOB_STATUS in its environment; its output goes to stderr."
            ),
            rich_help_panel=ACTIONS,
            show_default=False,
        ),
    ] = None,
    exec_timeout: Annotated[
        float,
        typer.Option(
            "--exec-timeout",
            min=0.1,
            help="Seconds before an --exec command is killed.",
            rich_help_panel=ACTIONS,
        ),
    ] = 300.0,
    download: Annotated[
        bool,
        typer.Option(
            "--download", help="Download the videos of succeeded jobs.", rich_help_panel=ACTIONS
        ),
    ] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Download path template, e.g. clips/{id}.mp4 (implies --download).",
            rich_help_panel=ACTIONS,
            show_default=False,
        ),
    ] = None,
    forward_to: Annotated[
        str | None,
        typer.Option(
            "--forward-to",
            help="Also POST each event, raw body and signature headers unchanged, to this URL.",
            rich_help_panel=ACTIONS,
            show_default=False,
        ),
    ] = None,
    tolerance: Annotated[
        int,
        typer.Option(
            "--tolerance",
            min=0,
            help="Reject X-Lumen-Timestamp more than this many seconds off (0: no check).",
        ),
    ] = 300,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print each event as one JSON line (JSON Lines) on stdout."),
    ] = False,
) -> None:
    """Receive the API's signed job results and act on each one, until Ctrl-C.

    Deliveries with a missing or wrong X-Lumen-Signature (401), a stale X-Lumen-Timestamp,
    or a body that is not a job event (400) are refused and leave no trace. Each accepted
    event updates the history, then --download, one line on stdout (id, status, video URL
    or error), --forward-to and --exec. The same (id, status) is processed once per run:
    redeliveries are answered 200 and ignored. The API must be able to reach this address:
    see the README for tunnels and reverse proxies.

    Ctrl-C (or SIGTERM) stops taking deliveries, finishes the events already received,
    prints a summary and exits 0; a second Ctrl-C abandons them (exit 130).

    **Examples**

        lumen webhook listen --exec 'cat >> events.jsonl'

        lumen webhook listen --download -o 'clips/{id}.mp4' --exec './on-video.sh'

        lumen webhook listen --forward-to http://127.0.0.1:3000/lumen --json
    """
    from lumen_cli.net import is_loopback
    from lumen_cli.services.events import EventProcessor
    from lumen_cli.values import check_template
    from lumen_cli.webhook.listener import Listener, ListenerConfig, serve_until_stopped

    state = app_context(ctx, json_output=json_output)
    out = state.output
    signing_secret = _secret(state, secret)
    if forward_to is not None:
        check_http_url("--forward-to", forward_to)
    if output is not None:
        check_template(output)
    processor = EventProcessor(
        state,
        exec_command=exec_command or None,
        exec_timeout=exec_timeout,
        forward_to=forward_to,
        download=download or output is not None,
        output_template=output,
        json_output=json_output,
    )
    config = ListenerConfig(secret=signing_secret, host=host, port=port, tolerance=tolerance)
    listener = Listener(config, processor, log=out.info)
    if not is_loopback(host):
        out.warn(
            f"binding {host}: the listener is reachable from other machines; "
            "serve it behind TLS (see the README)"
        )
    try:
        listener.start()
    except OSError as exc:
        raise BadInput(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="Pick another --port, or 0 for any free one.",
        ) from None

    source = state.settings.get("webhook_secret", secret).source
    actions = ["history"]
    if processor.download:
        actions.append("download")
    if forward_to:
        actions.append(f"forward to {forward_to}")
    if exec_command:
        actions.append(f"run `{exec_command}`")
    out.info(f"listening on {listener.url} (POST to any path, e.g. {listener.url}/hook)")
    check = f"timestamps within {tolerance} s" if tolerance else "no timestamp check"
    origin = {"flag": "--secret", "env": "LUMEN_WEBHOOK_SECRET"}.get(
        source, f"the config ({source})"
    )
    out.info(f"secret from {origin}; {check}")
    out.info(f"each event: {', '.join(actions)}. Ctrl-C stops.")
    serve_until_stopped(listener, info=out.info, warn=out.warn)


@app.command("verify", cls=Command)
def verify(
    ctx: typer.Context,
    signature: Annotated[
        str,
        typer.Option(
            "--signature",
            "-s",
            help="The X-Lumen-Signature header value: sha256= and 64 hex digits.",
            show_default=False,
        ),
    ],
    file: Annotated[
        str | None,
        typer.Argument(
            help="The raw body exactly as received; '-' or nothing reads stdin.",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    secret: Secret = None,
    json_output: JsonOutput = False,
) -> None:
    """Check a delivery's signature offline: print valid or invalid; exit 0 or 1.

    The signature covers the exact bytes received: save the body raw, not re-formatted.
    Exits 2 when the secret is missing or the file cannot be read.

    **Examples**

        lumen webhook verify --signature "sha256=5d2c…" body.json

        curl -s … | LUMEN_WEBHOOK_SECRET=… lumen webhook verify -s "$SIG" --json
    """
    from lumen_cli.webhook.protocol import SIGNATURE_HEADER
    from lumen_cli.webhook.protocol import verify as check

    state = app_context(ctx, json_output=json_output)
    signing_secret = _secret(state, secret)
    body = read_bytes(file)
    # A header pasted whole ("X-Lumen-Signature: sha256=…") means the same thing.
    value = signature.strip()
    if value.lower().startswith(SIGNATURE_HEADER.lower() + ":"):
        value = value[len(SIGNATURE_HEADER) + 1 :]
    valid = check(signing_secret, body, value)
    if json_output:
        state.output.json({"valid": valid})
    else:
        state.output.data("valid" if valid else "invalid")
    if not valid:
        if not json_output:
            state.output.hint(
                "Check the secret, and that the body is byte-for-byte what was received "
                "(an editor or `echo` adds a newline; a JSON tool re-formats it)."
            )
        raise typer.Exit(ExitCode.ERROR)


@app.command("send", cls=Command)
def send(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Argument(
            help="Your handler's URL (http or https).", show_default=False, metavar="URL"
        ),
    ],
    job_id: Annotated[
        str,
        typer.Option(
            "--id", help="Job id the event names (the receiver may record it).", show_default=False
        ),
    ],
    status: Annotated[
        EventStatus, typer.Option("--status", help="The job status the event reports.")
    ] = EventStatus.succeeded,
    video_url: Annotated[
        str | None,
        typer.Option(
            "--video-url",
            help="The result URL of a succeeded event (default: a placeholder).",
            show_default=False,
        ),
    ] = None,
    timestamp: Annotated[
        int | None,
        typer.Option(
            "--timestamp",
            help="X-Lumen-Timestamp to send (default: now); an old one tests replay checks.",
            show_default=False,
        ),
    ] = None,
    secret: Secret = None,
    json_output: JsonOutput = False,
) -> None:
    """Send a signed test delivery to your own handler, as the API would.

    Shows the handler's answer.

    The body and headers are those of a real delivery: Content-Type, X-Lumen-Signature and
    X-Lumen-Timestamp (now). Redirects are not followed, as the API does not follow them.
    Exits 0 when the handler answers 2xx, 1 for any other answer (e.g. 401: wrong secret),
    6 when it cannot be reached or answers 5xx.

    **Examples**

        lumen webhook send http://127.0.0.1:8787/hook --id v123

        lumen webhook send https://your.app/callback --id v123 --status failed
    """
    import time

    from lumen_cli.webhook.protocol import sample_event
    from lumen_cli.webhook.sender import Sender

    state = app_context(ctx, json_output=json_output)
    out = state.output
    signing_secret = _secret(state, secret)
    check_http_url("URL", url)
    if video_url is not None:
        check_http_url("--video-url", video_url)
    if not job_id.strip():
        raise BadInput("--id must not be empty")
    body = sample_event(job_id, status.value, video_url)
    out.info(f"sending a signed {status.value} event for {job_id} to {url}")
    sent_at = int(time.time()) if timestamp is None else timestamp
    with Sender() as sender:
        result = sender.send_signed(url, signing_secret, body, timestamp=sent_at)
    shown = result.body[:BODY_SHOWN]
    if json_output:
        out.json(
            {
                "url": url,
                "id": job_id,
                "status_code": result.status,
                "reason": result.reason,
                "body": shown,
                "truncated": len(result.body) > BODY_SHOWN,
                "ok": result.ok,
            }
        )
    else:
        out.data(f"{result.status} {result.reason}".rstrip())
        if shown.strip():
            out.lines(shown.rstrip("\n"))
        if len(result.body) > BODY_SHOWN:
            out.info(f"(answer truncated: {len(result.body) - BODY_SHOWN} more characters)")
    code = exit_code_for_answer(result.status)
    if code and not json_output:
        if result.status == 401:
            out.hint("401: the handler rejected the signature; is its secret the same as --secret?")
        elif 300 <= result.status < 400:
            out.hint("A redirect: webhooks are not redirected; give the final URL.")
    raise typer.Exit(code)
