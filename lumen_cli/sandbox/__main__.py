"""Run the sandbox in the foreground: ``python -m lumen_cli.sandbox --port 8765``.

Prints ``lumen sandbox listening on http://HOST:PORT`` to stderr once bound (scripts may wait
for that line), then serves until SIGTERM, SIGINT or ``POST /_sandbox/shutdown``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from lumen_cli.sandbox.server import FETCH_MODES, SandboxConfig, SandboxServer
from lumen_cli.sandbox.store import SandboxStateError


def _parser() -> argparse.ArgumentParser:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="python -m lumen_cli.sandbox", description="Run the Lumen video API emulator."
    )
    parser.add_argument(
        "--host", default=defaults.host, help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=defaults.port,
        help="port, 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--job-seconds",
        type=float,
        default=defaults.job_seconds,
        help="how long a job takes to end (default: %(default)s)",
    )
    parser.add_argument(
        "--state-file", type=Path, help="keep jobs in this JSON file across restarts"
    )
    parser.add_argument(
        "--submit-rate-limit",
        type=int,
        metavar="N",
        help="answer 429 (Retry-After: 1) to job submits beyond N in one second",
    )
    parser.add_argument(
        "--fetch-inputs",
        choices=FETCH_MODES,
        default=defaults.fetch_inputs,
        help="which input URLs of a job to fetch before creating it (default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until told to stop; 0 on a clean stop, 1 if the server cannot start."""
    args = _parser().parse_args(argv)
    try:
        config = SandboxConfig(
            host=args.host,
            port=args.port,
            job_seconds=args.job_seconds,
            state_file=args.state_file,
            submit_rate_limit=args.submit_rate_limit,
            fetch_inputs=args.fetch_inputs,
        )
        server = SandboxServer(config).start()
    except (ValueError, OSError, SandboxStateError) as exc:
        print(f"lumen sandbox: cannot start: {exc}", file=sys.stderr)
        return 1

    def on_signal(signum: int, frame: object) -> None:
        server.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"lumen sandbox listening on {server.url}", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
