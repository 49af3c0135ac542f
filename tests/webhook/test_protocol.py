"""The webhook wire protocol: signatures (known answers, properties) and timestamps."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumen_cli.webhook.protocol import (
    check_timestamp,
    sign,
    verify,
)
from tests.support import (
    KAT_BODY,
    KAT_SIGNATURE,
    WHSEC,
)

# RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
RFC4231_SIGNATURE = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_known_answer_vectors() -> None:
    assert sign(WHSEC, KAT_BODY) == KAT_SIGNATURE
    assert verify(WHSEC, KAT_BODY, KAT_SIGNATURE)
    assert verify(WHSEC, KAT_BODY, KAT_SIGNATURE.encode())
    assert sign("Jefe", b"what do ya want for nothing?") == RFC4231_SIGNATURE


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        b"",
        "sha256=",
        KAT_SIGNATURE[:-1],  # truncated
        KAT_SIGNATURE + "0",  # extended
        KAT_SIGNATURE.replace("sha256=", "SHA256="),  # the prefix is exact, as the vendor's
        KAT_SIGNATURE.removeprefix("sha256="),  # no prefix
        KAT_SIGNATURE.upper(),
        "sha256=" + "0" * 64,  # well-formed, wrong
        KAT_SIGNATURE[:-1] + "é",  # non-ASCII str
        KAT_SIGNATURE.encode()[:-1] + b"\xff",  # non-ASCII bytes
        "\xa0" + KAT_SIGNATURE,  # Unicode space is not HTTP whitespace
        "sha1=" + KAT_SIGNATURE[7:47],
    ],
)
def test_verify_rejects(header: str | bytes | None) -> None:
    assert verify(WHSEC, KAT_BODY, header) is False


def test_verify_rejects_tampered_body_and_wrong_secret() -> None:
    assert not verify(WHSEC, KAT_BODY.replace(b"succeeded", b"succeedeD"), KAT_SIGNATURE)
    assert not verify(WHSEC, KAT_BODY + b"\n", KAT_SIGNATURE)  # an editor's trailing newline
    assert not verify(WHSEC + "x", KAT_BODY, KAT_SIGNATURE)
    assert not verify("", KAT_BODY, KAT_SIGNATURE)
    assert verify(WHSEC, KAT_BODY, f" {KAT_SIGNATURE}\r\n")  # HTTP's own whitespace is trimmed


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(),
    body=st.binary(max_size=256),
    header=st.one_of(st.none(), st.text(), st.binary()),
)
def test_verify_never_raises_and_accepts_only_the_exact_signature(
    secret: str, body: bytes, header: str | bytes | None
) -> None:
    result = verify(secret, body, header)
    assert isinstance(result, bool)
    try:
        expected = sign(secret, body)
    except UnicodeEncodeError:  # lone surrogates: no signature exists
        assert result is False
        return
    if isinstance(header, str):
        exact = header.strip(" \t\r\n\x0b\x0c") == expected
    else:
        exact = header is not None and header.strip() == expected.encode()
    assert result == (exact and bool(secret))
    if secret:
        assert verify(secret, body, expected)


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=64), position=st.integers(min_value=0), data=st.data())
def test_any_one_character_change_is_rejected(body: bytes, position: int, data: Any) -> None:
    good = sign(WHSEC, body)
    index = position % len(good)
    replacement = data.draw(st.sampled_from("0123456789abcdef=sx"))
    bad = good[:index] + replacement + good[index + 1 :]
    assert verify(WHSEC, body, bad) == (bad == good)


@pytest.mark.parametrize(
    ("header", "tolerance", "expected"),
    [
        ("1000", 300, None),
        ("700", 300, None),  # exactly at the tolerance
        ("1300", 300, None),
        ("699", 300, "301 s old"),
        ("1301", 300, "301 s in the future"),
        (b"1000", 300, None),
        (" 1000 ", 300, None),
        (None, 300, "missing"),
        ("", 300, "missing"),
        ("abc", 300, "not an integer"),
        ("1000.5", 300, "not an integer"),
        ("-5", 300, "not an integer"),
        ("¹⁰⁰⁰", 300, "not an integer"),  # Unicode digits are not a timestamp
        (b"\xff", 300, "not an integer"),
        ("9" * 5000, 300, "not an integer"),  # no int() of a huge string
        ("1", 0, None),  # 0 disables the check
        (None, 0, None),
    ],
)
def test_check_timestamp(
    header: str | bytes | None, tolerance: float, expected: str | None
) -> None:
    reason = check_timestamp(header, 1000.0, tolerance)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason
