"""``lumen usage``: jobs and seconds of video from the history alone, with estimated credits.

Nothing here asks the API: the history knows each job's request (its model, duration and
resolution) and its last known status. Seconds are what each job asked for (the API's
default 5 s when it named none): *requested* counts every job, *delivered* the succeeded
ones, *refunded* the failed ones (the API gives their credits back). With ``[prices]``
configured (``pricing``), the seconds of every job but the failed ones turn into
estimated credits, and the failed ones' into estimated refunds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lumen_cli.output.usage import OUTCOMES
from lumen_cli.pricing import (
    Estimate,
    Prices,
    credits_value,
    load_prices,
    requested_resolution,
    requested_seconds,
)

if TYPE_CHECKING:
    from lumen_cli.history import JobRecord
    from lumen_cli.services import Runtime

BY = ("model", "day", "profile", "batch")  # what `--by` groups jobs on
# A job's status counts as one of ``OUTCOMES``: its outcome, or ``running`` while it has none.
_RUNNING = frozenset({"queued", "processing", "submitting"})


def outcome(status: str) -> str:
    """The column of ``OUTCOMES`` a job in *status* counts in."""
    if status in _RUNNING:
        return "running"
    return status if status in OUTCOMES else "unknown"


def local_day(timestamp: float) -> str:
    """``2026-11-25``: the local date of *timestamp*."""
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))


@dataclass
class Tally:
    """Jobs, their outcomes, their seconds of video and what those cost, summed."""

    jobs: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    seconds_requested: int = 0
    seconds_delivered: int = 0
    seconds_refunded: int = 0
    credits: Estimate = field(default_factory=Estimate)  # every job but the failed ones
    refunded: Estimate = field(default_factory=Estimate)  # the failed ones

    def add(self, record: JobRecord, prices: Prices | None) -> None:
        seconds = requested_seconds(record.request)
        ended = outcome(record.status)
        self.jobs += 1
        self.outcomes[ended] += 1
        self.seconds_requested += seconds
        if ended == "succeeded":
            self.seconds_delivered += seconds
        elif ended == "failed":
            self.seconds_refunded += seconds
        if prices is not None:
            cost = prices.estimate(record.model, requested_resolution(record.request), seconds)
            (self.refunded if ended == "failed" else self.credits).add(cost)

    def to_json(self, *, priced: bool) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            **self.outcomes,
            "seconds_requested": self.seconds_requested,
            "seconds_delivered": self.seconds_delivered,
            "seconds_refunded": self.seconds_refunded,
            "credits_estimate": credits_value(self.credits.credits) if priced else None,
            "credits_refunded_estimate": credits_value(self.refunded.credits) if priced else None,
        }


@dataclass
class Usage:
    """The history's jobs summed: in all, by *by* (``BY``), and by local day."""

    by: str
    profile: str | None  # None: every profile
    since: float | None
    prices: Prices | None
    total: Tally = field(default_factory=Tally)
    groups: dict[str | None, Tally] = field(default_factory=dict)
    days: dict[str, Tally] = field(default_factory=dict)

    @property
    def unpriced(self) -> dict[str, int]:
        """Seconds no price covers, by what is missing (``model`` or ``model at 1080p``)."""
        missing = Estimate()
        missing.add(self.total.credits)
        missing.add(self.total.refunded)
        return missing.unpriced

    def rows(self) -> list[tuple[str | None, Tally]]:
        """The groups in the order people read them: days oldest first, others by seconds
        of video, the jobs of no model (or batch) last."""
        if self.by == "day":
            return sorted(self.groups.items(), key=lambda item: item[0] or "")
        return sorted(
            self.groups.items(),
            key=lambda item: (item[0] is None, -item[1].seconds_requested, item[0] or ""),
        )

    def to_json(self) -> dict[str, Any]:
        priced = self.prices is not None
        return {
            "by": self.by,
            "profile": self.profile,
            "since": int(self.since) if self.since is not None else None,
            "prices": str(self.prices.source) if self.prices is not None else None,
            "total": self.total.to_json(priced=priced),
            "groups": [
                {self.by: key, **tally.to_json(priced=priced)} for key, tally in self.rows()
            ],
            "days": [
                {
                    "day": day,
                    "seconds_requested": tally.seconds_requested,
                    "seconds_delivered": tally.seconds_delivered,
                }
                for day, tally in sorted(self.days.items())
            ],
            "unpriced": self.unpriced,
        }


def tally(
    records: Iterable[JobRecord],
    *,
    by: str,
    prices: Prices | None,
    batches: dict[str, str] | None = None,
    profile: str | None = None,
    since: float | None = None,
) -> Usage:
    """Sum *records* by *by*; *batches* (job id -> batch name) for ``by="batch"``."""
    usage = Usage(by, profile, since, prices)
    for record in records:
        key: str | None
        if by == "model":
            key = record.model
        elif by == "day":
            key = local_day(record.created_at)
        elif by == "profile":
            key = record.profile
        else:
            key = (batches or {}).get(record.id)
        usage.total.add(record, prices)
        usage.groups.setdefault(key, Tally()).add(record, prices)
        usage.days.setdefault(local_day(record.created_at), Tally()).add(record, prices)
    return usage


def usage_of(rt: Runtime, *, by: str, since: float | None) -> Usage:
    """The usage the history records: this profile's jobs, or every profile's when *by*
    is ``profile``; since *since* (a Unix time) when given."""
    prices = load_prices(rt.settings.data, rt.settings.file.path)
    profile = None if by == "profile" else rt.settings.profile
    records = rt.history.list(profile=profile, since=since)
    batches = rt.history.job_batches(profile=profile) if by == "batch" else None
    return tally(records, by=by, prices=prices, batches=batches, profile=profile, since=since)
