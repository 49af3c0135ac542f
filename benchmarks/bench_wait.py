"""One `lumen wait --all` process following 200 sandbox jobs: memory and how soon it notices.

The sandbox runs in its own process. The harness creates the jobs (prompt "forever", so
they only end when told), records them in a fresh history, starts `lumen wait --all`,
then ends the jobs at staggered moments over about a minute. Afterwards each job's
noticing delay is read from the history (the time `wait` stored the terminal status)
and compared with the polling interval in force. Peak RSS is compared side by side
with a baseline process that only imports what `wait` uses.

    python -m benchmarks.bench_wait [--jobs 200] [--spread 60]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.common import LUMEN, run_timed
from lumen_cli.api.models import Job
from lumen_cli.history import History

KEY = "sk-lumen-bench"
BASELINE = [sys.executable, "-c", "import httpx, rich.live, sqlite3, typer, lumen_cli.app"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which jobs end")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lumen-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "lumen_cli.sandbox", "--port", str(port), "--job-seconds", "1"],
        stderr=subprocess.PIPE,
    )
    try:
        assert sandbox.stderr is not None
        sandbox.stderr.readline()  # "listening on …"
        env = {
            **os.environ,
            "LUMEN_CONFIG_DIR": str(home / "config"),
            "LUMEN_DATA_DIR": str(home / "data"),
            "LUMEN_BASE_URL": url,
            "LUMEN_API_KEY": KEY,
        }
        history = History(home / "data" / "history.sqlite3")
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"})
        ids = []
        for n in range(args.jobs):
            body = {"model": "seedance-2", "prompt": f"bench job {n} runs forever"}
            job = Job.from_api(api.post("/v1/videos/generations", json=body).json())
            history.update_from_api(job, profile="default", base_url=url)
            ids.append(job.id)
        history.close()

        started = time.time()
        waiter = subprocess.Popen(
            [*LUMEN, "wait", "--all"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        ends = sorted((random.uniform(1, args.spread), job_id) for job_id in ids)  # noqa: S311
        finished_at: dict[str, float] = {}
        for offset, job_id in ends:
            time.sleep(max(0.0, started + offset - time.time()))
            api.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "succeeded"})
            finished_at[job_id] = time.time()
        _, status, usage = os.wait4(waiter.pid, 0)
        total = time.time() - started
        peak_mib = usage.ru_maxrss / 1024
        assert os.waitstatus_to_exitcode(status) == 0, "lumen wait failed"

        records = {r.id: r for r in History(home / "data" / "history.sqlite3").list(limit=None)}
        delays = sorted(records[j].updated_at - finished_at[j] for j in ids)
        _, baseline_mib = run_timed(BASELINE)
    finally:
        sandbox.terminate()
        sandbox.wait()

    over = [d for d in delays if d > 15.0 * 1.1 + 1.0]
    print(f"jobs followed by one process : {args.jobs}")
    print(f"wall time                    : {total:.1f} s (jobs ended over {args.spread:.0f} s)")
    print(f"peak RSS of lumen wait       : {peak_mib:.1f} MiB (target < 100)")
    ratio = peak_mib / baseline_mib
    print(f"peak RSS of baseline imports : {baseline_mib:.1f} MiB  ratio {ratio:.2f}")
    print(
        f"noticed after ending         : median {delays[len(delays) // 2]:.1f} s, "
        f"max {delays[-1]:.1f} s (interval cap 15 s ±10 %)"
    )
    print(f"jobs noticed later than one interval: {len(over)}")


if __name__ == "__main__":
    main()
