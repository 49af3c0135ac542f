"""The batch run under trouble: a 429 storm, persistent 5xx, an unreachable API, a rejected key,
``kill -9``, Ctrl-C and two processes at once. Every line is accepted once in total, counted
at the sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lumen_cli.clock import FakeClock
from lumen_cli.sandbox import SandboxConfig, SandboxServer
from tests.conftest import CLI
from tests.support import (
    POSTGRES_PASSWORD,
    StepClock,
    fork_lumen,
    free_port,
    machine_env,
    post_count,
    wait_for,
)

JOBS = "/v1/videos/generations"


def prompts(path: Path, count: int, word: str = "line") -> Path:
    path.write_text("".join(f"{word} {n} of the batch\n" for n in range(1, count + 1)))
    return path


def status(cli: CLI, name: str) -> list[dict[str, Any]]:
    run = cli("batch", "status", name, "--json")
    assert run.code == 0, run.stderr
    lines: list[dict[str, Any]] = json.loads(run.stdout)
    return lines


def results(text: str) -> dict[int, dict[str, Any]]:
    return {d["line"]: d for d in map(json.loads, text.splitlines())}


def test_a_429_storm_slows_the_batch_down_and_fails_no_line(
    cli: CLI, monkeypatch: pytest.MonkeyPatch, work: Path
) -> None:
    world = FakeClock()  # the sandbox's time: it moves when lumen sleeps
    config = SandboxConfig(port=0, job_seconds=0, submit_rate_limit=2)
    with SandboxServer(config, clock=world) as limited:
        monkeypatch.setenv("LUMEN_BASE_URL", limited.url)
        clock = StepClock(world=world)
        run = cli("batch", str(prompts(work / "storm.txt", 12)), "-c", "4", "--json", clock=clock)
        posts = post_count(limited)
    assert run.code == 0, run.stderr
    assert {d["status"] for d in results(run.stdout).values()} == {"queued"}
    assert len(results(run.stdout)) == 12
    refused = posts - 12
    assert refused > 0  # the storm happened
    assert 1.0 in clock.sleeps  # Retry-After: 1 honoured
    # Backing off together: a few refusals per pause, not a thread's six retries each.
    assert refused <= 4 * len(clock.sleeps)
    assert len(clock.sleeps) <= 12
    assert sum(clock.sleeps) >= 12 / 2 - 1  # no faster than the limit allows


def test_persistent_5xx_stops_sending_after_a_bound_and_says_how_to_resume(
    cli: CLI, sandbox: SandboxServer, work: Path
) -> None:
    file = prompts(work / "down.txt", 10)
    before = post_count(sandbox)
    sandbox.faults.add("status", method="POST", path=JOBS, status=503, count=1000)
    run = cli("batch", str(file), "-c", "1", "--json")
    assert run.code == 6
    assert post_count(sandbox) - before == 5  # then it stopped sending
    statuses = [d["status"] for _, d in sorted(results(run.stdout).items())]
    assert statuses == ["unknown"] * 5 + ["pending"] * 5
    assert "5 lines in a row failed for service reasons" in run.stderr
    assert f"run `lumen batch {file}` again" in run.stderr
    assert "--retry-unknown" in run.stderr

    sandbox.faults.clear()
    resumed = cli("batch", str(file), "--json")
    assert resumed.code == 6  # the unknown lines are still unknown
    assert post_count(sandbox) - before == 10  # only the lines never sent
    assert [d["status"] for d in status(cli, "down")].count("unknown") == 5

    retried = cli("batch", str(file), "--retry-unknown", "--json")
    assert retried.code == 0, retried.stderr
    assert "may bill twice" in retried.stderr or "billed twice" in retried.stderr
    assert post_count(sandbox) - before == 15
    assert {line["status"] for line in status(cli, "down")} == {"queued"}


def test_an_unreachable_api_sends_nothing_and_leaves_every_line_to_send(
    cli: CLI, monkeypatch: pytest.MonkeyPatch, work: Path
) -> None:
    monkeypatch.setenv("LUMEN_BASE_URL", f"http://127.0.0.1:{free_port()}")
    run = cli("batch", str(prompts(work / "off.txt", 8)), "-c", "2", "--json")
    assert run.code == 6
    assert {d["status"] for d in results(run.stdout).values()} == {"pending"}
    assert "could not reach" in run.stderr
    assert {line["status"] for line in status(cli, "off")} == {"pending"}  # nothing unknown


def test_a_rejected_key_stops_the_batch_at_once(
    cli: CLI, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, work: Path
) -> None:
    monkeypatch.setenv("LUMEN_API_KEY", "sk-lumen-revoked")
    before = post_count(sandbox)
    run = cli("batch", str(prompts(work / "key.txt", 6)), "-c", "1")
    assert run.code == 3
    assert post_count(sandbox) - before == 1
    assert "lumen auth login" in run.stderr
    assert {line["status"] for line in status(cli, "key")} == {"pending"}


def child_env() -> dict[str, str]:
    """The test's environment (its home, the sandbox, the key) for a lumen of its own."""
    return dict(os.environ)


def test_kill_9_mid_batch_then_rerun_accepts_every_line_exactly_once(
    cli: CLI, sandbox: SandboxServer, home: Path, work: Path
) -> None:
    file = prompts(work / "killed.txt", 8)
    before = post_count(sandbox)
    # Three submits answer at once; the fourth is still in the sandbox when the kill comes.
    sandbox.faults.add("delay", method="POST", path=JOBS, seconds=0, count=3)
    sandbox.faults.add("delay", method="POST", path=JOBS, seconds=3, count=1)
    process = subprocess.Popen(
        [sys.executable, "-m", "lumen_cli", "batch", str(file), "-c", "1", "--json"],
        env=child_env(),
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: post_count(sandbox) - before == 4, seconds=20, what="the fourth submit")
    process.kill()
    out, _ = process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert len(out.splitlines()) == 3  # the three accepted lines were reported as they came
    sandbox.faults.clear()

    rerun = cli("batch", str(file), "--json")
    assert rerun.code == 6  # line 4's outcome is unknown: it may exist and be billed
    assert post_count(sandbox) - before == 8  # each line's POST exactly once in all
    statuses = {line["line"]: line["status"] for line in status(cli, "killed")}
    assert statuses[4] == "unknown"
    assert [statuses[n] for n in (1, 2, 3, 5, 6, 7, 8)] == ["queued"] * 7
    assert cli("batch", str(file)).code == 6
    assert post_count(sandbox) - before == 8  # and a third run sends nothing


def test_ctrl_c_mid_batch_then_rerun_sends_the_rest(
    cli: CLI, sandbox: SandboxServer, home: Path, work: Path
) -> None:
    file = prompts(work / "stopped.txt", 10)
    before = post_count(sandbox)
    sandbox.faults.add("delay", method="POST", path=JOBS, seconds=0.2, count=10)
    child = fork_lumen(["batch", str(file), "-c", "2", "--json"], child_env(), home / "runs")
    wait_for(lambda: post_count(sandbox) - before >= 3, seconds=20, what="three submits")
    os.kill(child.pid, signal.SIGINT)
    code, out, err = child.wait()
    assert code == 130, err
    sent = post_count(sandbox) - before
    assert 3 <= sent < 10
    done = results(out)
    assert len(done) == 10  # every line has a result, the unsent ones say so
    assert sum(d["status"] == "queued" for d in done.values()) == sent  # in flight: recorded
    assert {d["status"] for d in done.values()} == {"queued", "pending"}
    sandbox.faults.clear()

    rerun = cli("batch", str(file), "--json")
    assert rerun.code == 0, rerun.stderr
    assert post_count(sandbox) - before == 10
    assert {line["status"] for line in status(cli, "stopped")} == {"queued"}


def test_two_processes_on_one_batch_never_both_send_a_line(
    cli: CLI, sandbox: SandboxServer, home: Path, work: Path
) -> None:
    file = prompts(work / "twice.txt", 4)
    before = post_count(sandbox)
    sandbox.faults.add("delay", method="POST", path=JOBS, seconds=0.12, count=4)
    first = fork_lumen(["batch", str(file), "-c", "1"], child_env(), home / "runs")
    wait_for(lambda: post_count(sandbox) - before >= 1, seconds=20, what="the first submit")
    manifest = work / "results.jsonl"
    manifest.write_text("the first run's results\n")
    second = cli("batch", str(file), "--json", "--results", str(manifest))
    assert second.code == 1
    assert manifest.read_text() == "the first run's results\n"  # turned away: untouched
    assert "being sent by another lumen process" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    assert json.loads(second.stdout)["error"]["type"] == "batch_busy"
    code, _, err = first.wait()
    assert code == 0, err
    assert post_count(sandbox) - before == 4
    assert cli("batch", str(file)).code == 0
    assert post_count(sandbox) - before == 4


# -- one batch, several machines (a shared history on PostgreSQL) ----------------------------


def test_three_machines_send_one_batch_each_line_once(
    cli: CLI, sandbox: SandboxServer, home: Path, work: Path, postgres_url: str
) -> None:
    """Three ``lumen batch`` processes with homes of their own, on one batch: every line is
    POSTed once in all, each machine sends some, and each reports every line."""
    file = prompts(work / "shared.txt", 60)
    before = post_count(sandbox)
    sandbox.faults.add("delay", method="POST", path=JOBS, seconds=0.05, count=60)
    machines = [
        fork_lumen(
            ["batch", str(file), "-c", "4", "--json"],
            machine_env(home, f"render-{n}", postgres_url),
            home / "runs",
        )
        for n in range(1, 4)
    ]
    outcomes = [machine.wait() for machine in machines]
    for code, _, err in outcomes:
        assert code == 0, err
    assert post_count(sandbox) - before == 60
    senders: dict[str, int] = {}
    for n, (_, out, err) in enumerate(outcomes, start=1):
        done = results(out)
        assert sorted(done) == list(range(1, 61))  # every line has a result on every machine
        mine = [d for d in done.values() if d["host"] == f"render-{n}"]
        senders[f"render-{n}"] = len(mine)
        assert all(d["status"] == "queued" for d in mine)
        if len(mine) < 60:
            assert "sent by other runs of this batch" in err
    assert sum(senders.values()) == 60
    assert sum(1 for count in senders.values() if count) >= 2  # the work was shared
    laptop = machine_env(home, "laptop", postgres_url)
    lines = json.loads(
        subprocess.run(
            [sys.executable, "-m", "lumen_cli", "batch", "status", "shared", "--json"],
            env=laptop,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert len(lines) == 60
    assert {line["status"] for line in lines} == {"queued"}
    assert {line["host"] for line in lines} == {name for name, n in senders.items() if n}


def _lumen_backends(postgres_url: str) -> int:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name='lumen'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_machine_killed_mid_batch_leaves_its_lines_unknown_and_another_sends_the_rest(
    cli: CLI, sandbox: SandboxServer, home: Path, work: Path, postgres_url: str
) -> None:
    file = prompts(work / "cut.txt", 10)
    before = post_count(sandbox)
    sandbox.faults.add("delay", method="POST", path=JOBS, seconds=3, count=2)
    killed = fork_lumen(
        ["batch", str(file), "-c", "2"], machine_env(home, "killed", postgres_url), home / "runs"
    )
    wait_for(lambda: post_count(sandbox) - before == 2, seconds=20, what="two submits in flight")
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    # The server drops the dead machine's connection, and with it its runner's lock.
    wait_for(lambda: _lumen_backends(postgres_url) == 0, seconds=20, what="its connection gone")
    sandbox.faults.clear()

    other = fork_lumen(
        ["batch", str(file), "--json"], machine_env(home, "other", postgres_url), home / "runs"
    )
    code, out, err = other.wait()
    assert code == 6, err  # two lines' outcome is unknown: they may exist and be billed
    assert post_count(sandbox) - before == 10  # each line's POST once in all
    done = results(out)
    assert sorted(d["status"] for d in done.values()) == ["queued"] * 8 + ["unknown"] * 2
    assert {d["host"] for d in done.values() if d["status"] == "unknown"} == {"killed"}
    assert {d["host"] for d in done.values() if d["status"] == "queued"} == {"other"}
    assert "--retry-unknown" in err


def test_losing_the_shared_history_mid_batch_stops_sending_and_says_how_to_resume(
    cli: CLI, sandbox: SandboxServer, home: Path, work: Path, postgres_url: str
) -> None:
    import psycopg

    # A role of the test's own, which the server can stop letting in.
    schema = postgres_url.rsplit("%3D", 1)[1]
    role = f"{schema}_user"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{POSTGRES_PASSWORD}'")
        conn.execute(f"GRANT ALL ON SCHEMA {schema} TO {role}")
    url = postgres_url.replace("postgres:", f"{role}:", 1)
    file = prompts(work / "lost.txt", 12)
    before = post_count(sandbox)
    sandbox.faults.add("delay", method="POST", path=JOBS, seconds=0.3, count=12)
    env = machine_env(home, "laptop", url)
    run = fork_lumen(["batch", str(file), "-c", "1", "--json"], env, home / "runs")
    wait_for(lambda: post_count(sandbox) - before >= 2, seconds=20, what="two submits")
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # the server is gone
        conn.execute(f"ALTER ROLE {role} NOLOGIN")
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename=%s", (role,)
        )
    code, out, err = run.wait()
    assert code == 6, err
    sent = post_count(sandbox) - before
    assert sent < 12
    done = results(out)
    assert len(done) == 12  # every line has a result: the unsent ones say so
    assert sum(d["status"] == "pending" for d in done.values()) == 12 - sent
    assert "cannot reach the shared history" in err
    assert f"run `lumen batch {file}` again" in err
    assert POSTGRES_PASSWORD not in out + err
    sandbox.faults.clear()

    with psycopg.connect(postgres_url, autocommit=True) as conn:  # back
        conn.execute(f"ALTER ROLE {role} LOGIN")
    again = fork_lumen(["batch", str(file), "--json"], env, home / "runs")
    code, out, err = again.wait()
    assert post_count(sandbox) - before == 12  # each line's POST once in all
    statuses = sorted(d["status"] for d in results(out).values())
    # A submit in flight when the history went away was accepted, but could not be recorded:
    # its outcome stays unknown (exit 6), as it would on one machine.
    assert statuses.count("queued") >= 11
    assert set(statuses) <= {"queued", "unknown"}
    assert code == (6 if "unknown" in statuses else 0), err
