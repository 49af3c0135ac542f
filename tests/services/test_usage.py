"""Summing the history: outcomes, seconds requested / delivered / refunded, credits."""

from __future__ import annotations

import time
from pathlib import Path

from lumen_cli.history import JobRecord
from lumen_cli.pricing import Prices
from lumen_cli.services.usage import local_day, outcome, tally

DAY = 86_400
NOON = time.mktime((2026, 11, 20, 12, 0, 0, 0, 0, -1))  # local noon: days don't shift
PRICES = Prices(Path("config.toml"), {"seedance-2": 10.0, "veo-3-1": {"1080p": 40.0}})


def _record(
    job_id: str,
    status: str,
    model: str | None = "seedance-2",
    *,
    duration: int | None = None,
    resolution: str | None = None,
    day: int = 0,
    profile: str = "default",
) -> JobRecord:
    request: dict[str, object] = {"model": model, "prompt": "x"}
    if duration is not None:
        request["duration"] = duration
    if resolution is not None:
        request["resolution"] = resolution
    created = NOON + day * DAY
    return JobRecord(job_id, profile, "u", created, created, status, model, "x", request=request)


def test_every_status_counts_as_one_outcome() -> None:
    assert [outcome(s) for s in ("queued", "processing", "submitting")] == ["running"] * 3
    assert [outcome(s) for s in ("succeeded", "failed", "cancelled")] == [
        "succeeded",
        "failed",
        "cancelled",
    ]
    assert outcome("unknown") == outcome("something else") == "unknown"


def test_seconds_and_credits_with_failed_jobs_apart() -> None:
    records = [
        _record("a", "succeeded", duration=8),
        _record("b", "failed", duration=6),  # refunded
        _record("c", "cancelled"),  # 5 s by default
        _record("d", "unknown", "veo-3-1", resolution="1080p", day=1),
        _record("e", "queued", "veo-3-1", day=1),  # 720p: no price
    ]
    usage = tally(records, by="model", prices=PRICES)
    document = usage.to_json()
    total = document["total"]
    assert (total["jobs"], total["succeeded"], total["failed"], total["cancelled"]) == (5, 1, 1, 1)
    assert (total["unknown"], total["running"]) == (1, 1)
    assert total["seconds_requested"] == 8 + 6 + 5 + 5 + 5
    assert total["seconds_delivered"] == 8
    assert total["seconds_refunded"] == 6
    # Every job but the failed one is billed (the unknown one may have been); failed apart.
    assert total["credits_estimate"] == 80 + 50 + 200
    assert total["credits_refunded_estimate"] == 60
    assert document["unpriced"] == {"veo-3-1 at 720p": 5}
    assert [(g["model"], g["jobs"]) for g in document["groups"]] == [
        ("seedance-2", 3),
        ("veo-3-1", 2),
    ]
    assert document["days"] == [
        {"day": local_day(NOON), "seconds_requested": 19, "seconds_delivered": 8},
        {"day": local_day(NOON + DAY), "seconds_requested": 10, "seconds_delivered": 0},
    ]


def test_without_prices_there_are_no_credits() -> None:
    document = tally([_record("a", "succeeded")], by="model", prices=None).to_json()
    assert document["prices"] is None
    assert document["total"]["credits_estimate"] is None
    assert document["groups"][0]["credits_refunded_estimate"] is None


def test_groups_by_day_profile_and_batch() -> None:
    records = [
        _record("a", "succeeded", day=2),
        _record("b", "succeeded", day=0, profile="work"),
        _record("c", "succeeded", day=0, duration=9),
    ]
    by_day = tally(records, by="day", prices=None).to_json()["groups"]
    assert [g["day"] for g in by_day] == [
        local_day(NOON),
        local_day(NOON + 2 * DAY),
    ]  # oldest first
    by_profile = tally(records, by="profile", prices=None).to_json()["groups"]
    assert [(g["profile"], g["seconds_requested"]) for g in by_profile] == [
        ("default", 14),
        ("work", 5),
    ]
    by_batch = tally(records, by="batch", prices=None, batches={"c": "shots"}).to_json()
    assert [(g["batch"], g["jobs"]) for g in by_batch["groups"]] == [("shots", 1), (None, 2)]
