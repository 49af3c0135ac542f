"""One ``lumen wait --all`` process following 1,000 running jobs: memory, how soon it notices
each end, and how many GETs it sends a minute.

The sandbox runs in its own process. The jobs are made there (prompt "forever", so each
ends only when told) and recorded in a scratch history; then ``lumen wait --all`` starts,
and the jobs are ended one by one at random moments over two minutes. Meanwhile the
sandbox's request counts are read every 0.2 s. Afterwards:

* peak RSS of the one process, target under 120 MiB;
* each job's delay between its end and the moment ``wait`` stored it in the history, against
  the interval README promises: 15 s (±10 %) at most, or one round of the GET budget over the
  jobs of the wait (1,000 jobs / 10 a second = 100 s) when that is longer; a second more is
  allowed for the answer to be written down;
* the most GETs in any minute, target at most what the budget allows: 10 a second and 8 at
  once (600 + 8 in 60 s; a window is up to 0.2 s longer, sampled).

    python -m benchmarks.bench_wait [--rounds N]
    python -m benchmarks wait    # the same
"""

from __future__ import annotations

import bisect
import random
import sys
import threading
import time
from typing import TYPE_CHECKING

from benchmarks.common import LUMEN, Row, Run, memory_row

if TYPE_CHECKING:
    from benchmarks.suite import Suite

JOBS = 1000
SPREAD_SECONDS = 120.0  # jobs end at random moments over this long
SAMPLE_SECONDS = 0.2
# README's promises: each job asked about every 15 s at most (±10 % jitter), and a wait sends
# at most 10 GETs a second and 8 at once.
CAP_SECONDS = 15.0 * 1.1
GETS_PER_SECOND = 10
BURST = 8
GET_ROUTE = "GET /v1/videos/generations/{id}"


def wait_all(suite: Suite) -> list[Row]:
    from lumen_cli.api.models import Job
    from lumen_cli.history import History

    home = suite.scratch()
    history = History(home.history)
    ids = []
    for n in range(JOBS):
        body = {"model": "seedance-2", "prompt": f"bench job {n} runs forever"}
        job = Job.from_api(suite.api("POST", "/v1/videos/generations", body))
        history.update_from_api(job, profile="default", base_url=suite.sandbox_url)
        ids.append(job.id)
    history.close()

    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            counts = suite.api("GET", "/_sandbox/stats")["requests"]
            assert isinstance(counts, dict)
            samples.append((time.monotonic(), int(counts.get(GET_ROUTE, 0))))
            stop.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    waiter = Run([*LUMEN, "wait", "--all"], suite.env(home))
    started = time.time()
    rng = random.Random(11)  # noqa: S311 - the same schedule every run
    ends = sorted((rng.uniform(1.0, SPREAD_SECONDS), job_id) for job_id in ids)
    ended_at: dict[str, float] = {}
    for offset, job_id in ends:
        time.sleep(max(0.0, started + offset - time.time()))
        suite.api("POST", f"/_sandbox/jobs/{job_id}/finish", {"status": "succeeded"})
        ended_at[job_id] = time.time()
    _, peak, code = waiter.result(check=False)
    stop.set()
    sampler.join()
    if code != 0:
        raise RuntimeError(f"lumen wait --all exited {code}")

    records = {r.id: r for r in History(home.history).list(limit=None)}
    bound = max(CAP_SECONDS, JOBS / GETS_PER_SECOND) + 1.0
    delays = sorted(records[job_id].updated_at - ended_at[job_id] for job_id in ids)
    late = sum(1 for delay in delays if delay > bound)
    times = [at for at, _ in samples]
    most, allowed = 0, 0.0
    for at, count in samples:
        after = bisect.bisect_left(times, at + 60.0)
        if after < len(samples):
            gets = samples[after][1] - count
            if gets > most:
                most, allowed = gets, BURST + GETS_PER_SECOND * (samples[after][0] - at)
    return [
        memory_row(f"wait --all, {JOBS:,} jobs: peak RSS", peak, below=120),
        Row(
            f"wait --all, {JOBS:,} jobs: ends noticed in time",
            f"{JOBS - late}/{JOBS}",
            "-",
            "-",
            f"all <= {bound:.0f} s",
            late == 0,
            f"delays: median {delays[len(delays) // 2]:.1f} s, max {delays[-1]:.1f} s",
        ),
        Row(
            f"wait --all, {JOBS:,} jobs: GETs a minute",
            f"{most}",
            "-",
            "-",
            f"<= {allowed:.0f}",
            0 < most <= allowed,
        ),
    ]


def main() -> None:
    from benchmarks.suite import main as suite_main

    sys.exit(suite_main(["wait", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
