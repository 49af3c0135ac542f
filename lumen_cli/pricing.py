"""Prices: the ``[prices]`` table of the config file turns seconds of video into credits.

The API bills credits per second of video at a unit price that depends on the model (and on
the account's group), and it does not say what a job cost. So the prices are the user's to
write down, once, from the console's price list, in credits per second:

.. code-block:: toml

    [prices]
    seedance-2 = 10                          # at any resolution
    seedance-2-fast = 4
    veo-3-1 = { 720p = 20, 1080p = 40 }      # by resolution, where it matters

Everything computed from them is an estimate: the API settles per-second models by the
actual duration, and a price may have changed since it was written down. A request without
a ``duration`` or ``resolution`` counts the API's defaults (5 s, 720p).

The table is checked only where it is used (``usage``, the dry runs, ``--max-credits``), and
an error names the file: a typo in a price never stops a submit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lumen_cli.errors import BadInput, ConfigError
from lumen_cli.text import shorten
from lumen_cli.values import API_DEFAULT_DURATION, API_DEFAULT_RESOLUTION, check_resolution

PRICES_TABLE = "prices"
PRICES_HINT = (
    "Write each model's credits per second: `seedance-2 = 10`, or by resolution "
    '`veo-3-1 = { 720p = 20, 1080p = 40 }` (README, "Prices").'
)
# A model's price: credits per second at any resolution, or by resolution.
Price = float | dict[str, float]


def requested_seconds(request: Mapping[str, Any]) -> int:
    """Seconds of video *request* asks for (the API's default when it names none)."""
    duration = request.get("duration")
    if isinstance(duration, int) and not isinstance(duration, bool) and duration > 0:
        return duration
    return API_DEFAULT_DURATION


def requested_resolution(request: Mapping[str, Any]) -> str:
    """The resolution *request* asks for (the API's default when it names none)."""
    resolution = request.get("resolution")
    return resolution if isinstance(resolution, str) and resolution else API_DEFAULT_RESOLUTION


@dataclass
class Estimate:
    """Credits for some seconds of video, and the seconds no price covers (by what is
    missing: ``model`` or ``model at resolution``)."""

    credits: float = 0.0
    unpriced: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.unpriced

    def add(self, other: Estimate) -> None:
        self.credits += other.credits
        for what, seconds in other.unpriced.items():
            self.unpriced[what] = self.unpriced.get(what, 0) + seconds


@dataclass(frozen=True)
class Prices:
    """The ``[prices]`` table of *source*, checked: model -> credits per second."""

    source: Path
    models: Mapping[str, Price]

    def per_second(self, model: str | None, resolution: str) -> float | None:
        """Credits per second of *model* at *resolution*, or None when no price says."""
        price = self.models.get(model or "")
        if isinstance(price, dict):
            return price.get(resolution)
        return price

    def estimate(self, model: str | None, resolution: str, seconds: int) -> Estimate:
        """What *seconds* of *model* at *resolution* cost."""
        rate = self.per_second(model, resolution)
        if rate is not None:
            return Estimate(credits=rate * seconds)
        missing = model or "(no model)"
        if isinstance(self.models.get(model or ""), dict):
            missing = f"{missing} at {resolution}"
        return Estimate(unpriced={missing: seconds})

    def of_request(self, request: Mapping[str, Any]) -> Estimate:
        """What the job *request* asks for costs."""
        model = request.get("model")
        return self.estimate(
            model if isinstance(model, str) else None,
            requested_resolution(request),
            requested_seconds(request),
        )

    def of_requests(self, requests: Iterable[Mapping[str, Any]]) -> Estimate:
        total = Estimate()
        for request in requests:
            total.add(self.of_request(request))
        return total


def load_prices(data: Mapping[str, Any], source: Path) -> Prices | None:
    """The checked ``[prices]`` table of the config *data* read from *source*; None if the
    file has none. Raises ``ConfigError`` naming the file and the entry for a bad one."""
    raw = data.get(PRICES_TABLE)
    if raw is None:
        return None
    where = f"[{PRICES_TABLE}] in {source}"
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where} must be a table of models, got {shorten(repr(raw), 60)}", hint=PRICES_HINT
        )
    models: dict[str, Price] = {}
    for model, price in raw.items():
        name = shorten(model, 60)
        if isinstance(price, dict):
            if not price:
                raise ConfigError(f"{where}: {name} names no resolution", hint=PRICES_HINT)
            by_resolution: dict[str, float] = {}
            for resolution, value in price.items():
                try:
                    check_resolution(resolution)
                except BadInput:
                    raise ConfigError(
                        f"{where}: {name} has a price for {shorten(repr(resolution), 40)}, "
                        "which is not a resolution like 720p",
                        hint=PRICES_HINT,
                    ) from None
                by_resolution[resolution] = _rate(value, f"{where}: {name}.{resolution}")
            models[model] = by_resolution
        else:
            models[model] = _rate(price, f"{where}: {name}")
    return Prices(source, models)


def _rate(value: object, what: str) -> float:
    """*value* as credits per second: a finite number of 0 or more."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ConfigError(
            f"{what} must be credits per second (a number, 0 or more), "
            f"got {shorten(repr(value), 40)}",
            hint=PRICES_HINT,
        )
    return float(value)


def format_credits(credits: float) -> str:
    """``1,250``, ``12.5``, ``0.25``: credits as people read them (two decimals at most)."""
    rounded = round(credits, 2)
    if rounded == int(rounded):
        return f"{int(rounded):,}"
    return f"{rounded:,.2f}".rstrip("0")


def credits_value(credits: float) -> float | int:
    """*credits* for JSON: a whole number when it is one, else rounded to 4 decimals."""
    rounded = round(credits, 4)
    return int(rounded) if rounded == int(rounded) else rounded
