"""``lumen wait`` and ``submit --wait``: adaptive polling on a fake clock, exit codes, --all."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from lumen_cli.clock import FakeClock
from lumen_cli.sandbox import SandboxConfig, SandboxServer
from tests.conftest import CLI

JOBS = "/v1/videos/generations"


WORLD = FakeClock()  # the sandbox's clock here: it moves only when a test moves it


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """A sandbox whose jobs move only when the test's clock does: no race with real time."""
    with SandboxServer(SandboxConfig(port=0, job_seconds=10.0), clock=WORLD) as server:
        yield server


class SteppingClock(FakeClock):
    """A fake clock that runs *step(n)* at its n-th sleep; with *world*, the sandbox's
    clock moves by the same amount."""

    def __init__(self, step: Callable[[int], None] | None = None, *, world: bool = False) -> None:
        super().__init__()
        self.step = step
        self.world = world

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.world:
            WORLD.advance(seconds)
        if self.step is not None:
            self.step(len(self.sleeps))


def submit(cli: CLI, prompt: str = "a cat that runs forever") -> str:
    run = cli("submit", prompt, "-q")
    assert run.code == 0, run.stderr
    return run.stdout.strip()


def finisher(
    api: httpx.Client, job_ids: list[str], at: int, status: str = "succeeded"
) -> Callable[[int], None]:
    def step(n: int) -> None:
        if n == at:
            for job_id in job_ids:
                response = api.post(f"/_sandbox/jobs/{job_id}/finish", json={"status": status})
                assert response.status_code == 200, response.text

    return step


def test_wait_polls_adaptively_until_success(cli: CLI, api: httpx.Client) -> None:
    job_id = submit(cli)
    clock = SteppingClock(finisher(api, [job_id], at=4))
    run = cli("wait", job_id, clock=clock)
    assert run.code == 0, run.stderr
    line = run.stdout.strip().split("\t")
    assert line[:2] == [job_id, "succeeded"]
    assert line[-1].endswith(".mp4")  # the result: its URL
    # 2 s, then growing by half, with ±10 % jitter
    for slept, base in zip(clock.sleeps, [2.0, 3.0, 4.5, 6.75], strict=False):
        assert base * 0.9 <= slept <= base * 1.1
    # not a terminal: one line per state change
    assert run.stderr.splitlines() == [f"{job_id}  queued", f"{job_id}  queued -> succeeded"]
    record = json.loads(cli("list", "--json").stdout)[0]
    assert record["status"] == "succeeded"
    assert record["data"] == [{"url": line[-1]}]


def test_interval_caps_near_fifteen_seconds(cli: CLI, api: httpx.Client) -> None:
    job_id = submit(cli)
    clock = SteppingClock(finisher(api, [job_id], at=12))
    assert cli("wait", job_id, clock=clock).code == 0
    assert max(clock.sleeps) <= 15.0 * 1.1
    assert clock.sleeps[-1] >= 15.0 * 0.9


def test_fixed_interval(cli: CLI, api: httpx.Client) -> None:
    job_id = submit(cli)
    clock = SteppingClock(finisher(api, [job_id], at=3))
    assert cli("wait", job_id, "--interval", "5", clock=clock).code == 0
    assert all(4.5 <= s <= 5.5 for s in clock.sleeps)


@pytest.mark.parametrize(("status", "code"), [("failed", 7), ("cancelled", 8)])
def test_failed_and_cancelled_exit_codes(
    cli: CLI, api: httpx.Client, status: str, code: int
) -> None:
    job_id = submit(cli)
    run = cli("wait", job_id, clock=SteppingClock(finisher(api, [job_id], at=1, status=status)))
    assert run.code == code
    assert f"{job_id} {status}: generation {status}" in run.stderr


def test_failure_wins_over_success_across_jobs(cli: CLI, api: httpx.Client) -> None:
    good, bad = submit(cli), submit(cli)

    def step(n: int) -> None:
        if n == 1:
            api.post(f"/_sandbox/jobs/{good}/finish", json={"status": "succeeded"})
            api.post(f"/_sandbox/jobs/{bad}/finish", json={"status": "failed"})

    run = cli("wait", good, bad, "--json", clock=SteppingClock(step))
    assert run.code == 7
    documents = json.loads(run.stdout)
    assert [d["status"] for d in documents] == ["succeeded", "failed"]


def test_timeout_is_exit_9_and_the_job_stays_tracked(cli: CLI) -> None:
    job_id = submit(cli)
    clock = FakeClock()
    run = cli("wait", job_id, "--timeout", "30", clock=clock)
    assert run.code == 9
    assert "timed out" in run.stderr
    assert sum(clock.sleeps) == pytest.approx(30.0)
    record = json.loads(cli("list", "--json").stdout)[0]
    assert record["id"] == job_id
    assert record["status"] in ("queued", "processing")


def test_wait_all_follows_unfinished_jobs_of_this_profile(
    cli: CLI, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = submit(cli), submit(cli)
    assert cli("--profile", "other", "config", "set", "model", "seedance-2").code == 0
    monkeypatch.setenv("LUMEN_PROFILE", "other")
    other = submit(cli)
    monkeypatch.delenv("LUMEN_PROFILE")
    clock = SteppingClock(finisher(api, [first, second, other], at=1))
    run = cli("wait", "--all", "--json", clock=clock)
    assert run.code == 0, run.stderr
    assert {d["id"] for d in json.loads(run.stdout)} == {first, second}
    again = cli("wait", "--all", "--json")
    assert again.code == 0
    assert json.loads(again.stdout) == []


def test_unreachable_api_is_exit_6(cli: CLI, sandbox: object) -> None:
    job_id = submit(cli)
    from lumen_cli.sandbox import SandboxServer

    assert isinstance(sandbox, SandboxServer)
    sandbox.faults.add("status", method="GET", path=JOBS, status=503, count=10_000)
    run = cli("wait", job_id)
    assert run.code == 6
    assert "gave up" in run.stderr


def test_unknown_job_is_exit_5(cli: CLI) -> None:
    run = cli("wait", "v000000000000000000000000")
    assert run.code == 5
    assert "not found" in run.stderr


def test_ctrl_c_is_exit_130_and_keeps_the_job(cli: CLI) -> None:
    job_id = submit(cli)

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    run = cli("wait", job_id, clock=SteppingClock(interrupt))
    assert run.code == 130
    assert "history" in run.stderr
    assert json.loads(cli("list", "--json").stdout)[0]["id"] == job_id


def test_usage_errors(cli: CLI) -> None:
    assert cli("wait").code == 2
    assert cli("wait", "v1", "--all").code == 2


def test_submit_wait_chains_and_prints_one_json_document(cli: CLI, api: httpx.Client) -> None:
    ids: list[str] = []

    def step(n: int) -> None:
        if n == 1:
            ids.append(json.loads(cli("list", "--json").stdout)[0]["id"])
            api.post(f"/_sandbox/jobs/{ids[0]}/finish", json={"status": "succeeded"})

    run = cli("submit", "a cat that runs forever", "--wait", "--json", clock=SteppingClock(step))
    assert run.code == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["id"] == ids[0]
    assert document["status"] == "succeeded"


def test_submit_wait_follows_the_sandbox_through_every_state(cli: CLI) -> None:
    clock = SteppingClock(world=True)  # the job runs 10 s of sandbox time
    run = cli("submit", "this one will fail", "--wait", clock=clock)
    assert run.code == 7
    assert "prompt asked to fail" in run.stderr
    assert " queued -> processing" in run.stderr
    assert " processing -> failed" in run.stderr
    assert 10.0 <= sum(clock.sleeps) <= 10.0 + 15.0 * 1.1


def test_ctrl_c_under_json_still_prints_one_document(cli: CLI) -> None:
    job_id = submit(cli)

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    run = cli("wait", job_id, "--json", clock=SteppingClock(interrupt))
    assert run.code == 130
    assert json.loads(run.stdout)["error"]["type"] == "interrupted"


def test_zero_timeout_still_asks_once(cli: CLI) -> None:
    job_id = submit(cli)
    run = cli("wait", job_id, "--timeout", "0")
    assert run.code == 9
    assert run.stdout.strip().split("\t")[:2] == [job_id, "queued"]
    assert run.clock.sleeps == []
