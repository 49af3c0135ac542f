"""The ``[prices]`` table: its shape, its checks (errors name the file), its estimates."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from lumen_cli.errors import ConfigError
from lumen_cli.pricing import (
    credits_value,
    format_credits,
    load_prices,
    requested_resolution,
    requested_seconds,
)

SOURCE = Path("/home/me/.config/lumen/config.toml")
README_TABLE = """
[prices]
seedance-2 = 10
seedance-2-fast = 4.5
veo-3-1 = { 720p = 20, 1080p = 40 }
"""


def _prices(text: str) -> object:
    return load_prices(tomllib.loads(text), SOURCE)


def test_no_table_means_no_prices() -> None:
    assert load_prices({}, SOURCE) is None


def test_prices_by_model_and_by_resolution() -> None:
    prices = load_prices(tomllib.loads(README_TABLE), SOURCE)
    assert prices is not None
    assert prices.per_second("seedance-2", "1080p") == 10
    assert prices.per_second("veo-3-1", "1080p") == 40
    assert prices.per_second("veo-3-1", "480p") is None
    assert prices.per_second("sora", "720p") is None
    # A request without duration or resolution counts the API's defaults: 5 s at 720p.
    assert prices.of_request({"model": "veo-3-1"}).credits == 100
    assert prices.of_request({"model": "seedance-2-fast", "duration": 6}).credits == 27
    missing = prices.of_requests(
        [
            {"model": "veo-3-1", "resolution": "480p", "duration": 8},
            {"model": "sora", "duration": 4},
            {"model": "seedance-2", "duration": 4},
        ]
    )
    assert missing.credits == 40
    assert missing.unpriced == {"veo-3-1 at 480p": 8, "sora": 4}
    assert not missing.complete


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prices = 3", "[prices] in /home/me/.config/lumen/config.toml must be a table"),
        ("[prices]\nseedance-2 = 'ten'", "seedance-2 must be credits per second"),
        ("[prices]\nseedance-2 = -1", "seedance-2 must be credits per second"),
        ("[prices]\nseedance-2 = true", "seedance-2 must be credits per second"),
        ("[prices]\nseedance-2 = nan", "seedance-2 must be credits per second"),
        ("[prices]\nveo = { 4k = 3 }", "veo has a price for '4k', which is not a resolution"),
        ("[prices]\nveo = { 720p = 'x' }", "veo.720p must be credits per second"),
        ("[prices]\nveo = {}", "veo names no resolution"),
        ('[prices]\n"\\u001b[2J" = "x"', "\\x1b[2J must be credits per second"),
    ],
)
def test_a_bad_table_is_named_with_its_file(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _prices(text)
    assert message in raised.value.message
    assert str(SOURCE) in raised.value.message
    assert "\x1b" not in raised.value.message
    assert raised.value.hint is not None
    assert "seedance-2 = 10" in raised.value.hint


def test_requested_seconds_and_resolution() -> None:
    assert requested_seconds({"duration": 8}) == 8
    assert requested_seconds({}) == 5
    assert requested_seconds({"duration": "8"}) == 5  # a history another program mangled
    assert requested_seconds({"duration": True}) == 5
    assert requested_resolution({"resolution": "1080p"}) == "1080p"
    assert requested_resolution({}) == "720p"


def test_credits_as_people_and_scripts_read_them() -> None:
    assert format_credits(1250) == "1,250"
    assert format_credits(12.5) == "12.5"
    assert format_credits(0.1 + 0.2) == "0.3"
    assert credits_value(0.1 + 0.2) == 0.3
    assert credits_value(50.0) == 50
    assert isinstance(credits_value(50.0), int)
