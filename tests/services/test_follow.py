"""Following many jobs survives one bad file: a failed download is that job's outcome, and
downloads run beside the polling, so a slow file never delays noticing other jobs' ends."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from lumen_cli.sandbox import SandboxServer
from tests.conftest import CLI
from tests.support import StepClock, history_records, make_job


def _finish_at_first_sleep(api: httpx.Client, job_ids: list[str]) -> StepClock:
    def step(n: int) -> None:
        if n == 1:
            for job_id in job_ids:
                api.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": "succeeded"})

    return StepClock(step)


def test_one_file_that_cannot_be_saved_stops_nothing_else(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, home: Path, work: Path
) -> None:
    """Four jobs, the result host answers 404 for one file: exit 6 at the end, every other
    job followed to its end and saved, every job on stdout."""
    bad, good = make_job(api), make_job(api)
    running = [make_job(api, "a cat that runs forever", end="") for _ in range(2)]
    for job_id in running:
        history_job = api.get(f"/v1/videos/generations/{job_id}").json()
        assert history_job["status"] in ("queued", "processing")
    sandbox.faults.add("status", method="GET", path=f"/files/{bad}/", status=404, count=100)
    ids = [bad, good, *running]
    run = cli("wait", *ids, "--download", "-o", "out/", clock=_finish_at_first_sleep(api, running))
    assert run.code == 6, run.stderr
    lines = dict(line.split("\t", 1) for line in run.stdout.splitlines())
    assert set(lines) == set(ids)
    for job_id in (good, *running):
        assert lines[job_id].startswith("succeeded\t")
        assert (work / "out" / f"{job_id}.mp4").is_file()
    assert not (work / "out" / f"{bad}.mp4").exists()
    assert f"{bad}: could not download" in run.stderr
    assert "HTTP 404" in run.stderr
    assert f"download {bad}" in run.stderr  # how to save it later
    records = history_records(home)
    assert {records[i].status for i in ids} == {"succeeded"}
    assert all(records[i].paths for i in (good, *running))
    assert records[bad].paths == []


def test_a_failed_download_under_json_still_prints_every_job(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, work: Path
) -> None:
    bad, good = make_job(api), make_job(api)
    sandbox.faults.add("status", method="GET", path=f"/files/{bad}/", status=404, count=100)
    run = cli("wait", bad, good, "--download", "--json")
    assert run.code == 6
    assert {job["id"] for job in json.loads(run.stdout)} == {bad, good}


def test_a_slow_file_does_not_delay_noticing_other_jobs(
    cli: CLI, api: httpx.Client, sandbox: SandboxServer, work: Path
) -> None:
    slow = make_job(api)
    later = make_job(api, "a cat that runs forever", end="")
    sandbox.faults.add("slow", path=f"/files/{slow}/", bytes_per_second=20_000)  # ~0.5 s
    run = cli("wait", slow, later, "--download", clock=_finish_at_first_sleep(api, [later]))
    assert run.code == 0, run.stderr
    log = run.stderr
    # The other job's end is seen while the slow file is still coming in.
    ended = next(
        line for line in log.splitlines() if line.startswith(later) and "-> succeeded" in line
    )
    assert log.index(ended) < log.index(f"{slow}  saved")
    assert (work / f"{slow}.mp4").is_file()
    assert (work / f"{later}.mp4").is_file()


def test_wait_takes_the_number_of_download_workers(cli: CLI, api: httpx.Client, work: Path) -> None:
    ids = [make_job(api) for _ in range(3)]
    run = cli("wait", *ids, "--download", "--download-workers", "1")
    assert run.code == 0, run.stderr
    assert sorted(p.name for p in work.glob("*.mp4")) == sorted(f"{i}.mp4" for i in ids)
    assert cli("wait", *ids, "--download-workers", "0").code == 2
