"""Reading batch files: JSON Lines, CSV and text, aliases and types, checks with line numbers,
and the key that makes a line the same line in a re-run."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lumen_cli.api.request import JobSpec
from lumen_cli.errors import BadInput
from lumen_cli.services.batchfile import (
    BadLine,
    PlannedLine,
    detect_format,
    plan_lines,
    read_lines,
)

DEFAULTS = JobSpec(prompt="", model="seedance-2")


def plan(
    text: str, fmt: str, defaults: JobSpec = DEFAULTS
) -> tuple[list[PlannedLine], list[BadLine]]:
    return plan_lines(read_lines(text.encode(), fmt), defaults)


def jsonl(*documents: object) -> str:
    return "".join(json.dumps(document) + "\n" for document in documents)


def test_jsonl_takes_the_api_fields_their_aliases_and_a_custom_id() -> None:
    good, bad = plan(
        jsonl(
            {"prompt": "a fox", "custom_id": "fox", "duration": 6, "generate_audio": False},
            {"prompt": "a frame", "first_frame_url": "https://i.example/1.png",
             "reference_images": ["https://i.example/r.png"], "video_url": None},
        ) + "\n",  # a blank line is skipped
        "jsonl",
    )  # fmt: skip
    assert bad == []
    fox, frame = good
    assert (fox.line, fox.custom_id, fox.key) == (1, "fox", "id:fox")
    assert fox.body == {"model": "seedance-2", "prompt": "a fox", "duration": 6,
                        "generate_audio": False}  # fmt: skip
    assert frame.body["image_url"] == "https://i.example/1.png"
    assert frame.body["reference_image_urls"] == ["https://i.example/r.png"]
    assert frame.mode == "image-to-video"
    assert frame.key.startswith("sha256:")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not a JSON object"),
        ("[1, 2]", "not a JSON object (a list)"),
        ('{"model": "veo-3-1"}', "no prompt"),
        ('{"prompt": "x", "durration": 5}', "unknown field 'durration'"),
        ('{"prompt": "x", "duration": "5"}', "whole number"),
        ('{"prompt": "x", "duration": 3}', "at least 4"),
        ('{"prompt": "x", "generate_audio": "yes"}', "true or false"),
        ('{"prompt": "x", "image_url": "pic.png"}', "http(s) URL"),
        ('{"prompt": "x", "image_url": "https://a/1", "first_frame_url": "https://a/2"}',
         "given twice"),
        ('{"prompt": "x", "custom_id": ""}', "custom_id is empty"),
        ('{"prompt": "x", "custom_id": ["a"]}', "custom_id must be a string"),
        ('{"prompt": "  "}', "prompt is empty"),
        ('{"prompt": "x", "webhook_url": "https://h.example/cb"}', "secret"),
    ],
)  # fmt: skip
def test_jsonl_lines_are_checked_like_submit(line: str, message: str) -> None:
    good, bad = plan('{"prompt": "fine"}\n' + line + "\n", "jsonl")
    assert [g.line for g in good] == [1]
    assert len(bad) == 1
    assert bad[0].line == 2
    assert message in bad[0].error


def test_a_custom_id_used_twice_is_an_error_on_the_second_line() -> None:
    _, bad = plan(
        jsonl({"prompt": "a", "custom_id": "x"}, {"prompt": "b", "custom_id": "x"}), "jsonl"
    )
    assert [(b.line, b.custom_id) for b in bad] == [(2, "x")]
    assert "already used on line 1" in bad[0].error


def test_csv_header_names_fields_and_rows_keep_their_line_numbers() -> None:
    text = (
        "prompt,custom_id,duration,generate_audio,reference_image_urls,last_frame_url\n"
        "a fox,fox,6,yes,https://i.example/1.png|https://i.example/2.png,\n"
        '"a long prompt\nover two lines",long,,no,"[""https://i.example/3.png""]",\n'
        ",,,,,\n"  # an empty row is skipped
        "bad,b,three,,,\n"
        "a frame,,,,,https://i.example/last.png\n"
    )
    good, bad = plan(text, "csv")
    assert [(g.line, g.custom_id) for g in good] == [(2, "fox"), (3, "long"), (7, None)]
    fox, long, frame = good
    assert fox.body["reference_image_urls"] == [
        "https://i.example/1.png",
        "https://i.example/2.png",
    ]
    assert fox.body["generate_audio"] is True
    assert fox.body["duration"] == 6
    assert long.body["prompt"] == "a long prompt\nover two lines"
    assert long.body["reference_image_urls"] == ["https://i.example/3.png"]
    assert frame.body["last_image_url"] == "https://i.example/last.png"
    assert [(b.line, b.custom_id) for b in bad] == [(6, "b")]
    assert "whole number" in bad[0].error


@pytest.mark.parametrize(
    ("header", "message"),
    [("prompt,colour", "unknown column 'colour'"), ("model,duration", "no prompt column")],
)
def test_a_bad_csv_header_is_one_error_on_line_1(header: str, message: str) -> None:
    good, bad = plan(f"{header}\na,b\n", "csv")
    assert good == []
    assert [b.line for b in bad] == [1]
    assert message in bad[0].error


def test_text_is_one_prompt_a_line_skipping_blanks_and_comments() -> None:
    good, bad = plan("# shots for tuesday\n\n  a cat running  \n# a comment\na dog\n", "text")
    assert bad == []
    assert [(g.line, g.body["prompt"]) for g in good] == [(3, "a cat running"), (5, "a dog")]


def test_identical_lines_are_distinct_lines_with_stable_keys() -> None:
    first, _ = plan("a cat\na dog\na cat\na cat\n", "text")
    keys = [line.key for line in first]
    assert len(set(keys)) == 4
    assert keys[2] == keys[0] + "#2"
    assert keys[3] == keys[0] + "#3"
    appended, _ = plan("a cat\na dog\na cat\na cat\na bird\n", "text")
    assert [line.key for line in appended][:4] == keys  # appending changes no earlier key


def test_the_key_follows_the_effective_request_but_not_its_secret() -> None:
    def key(defaults: JobSpec) -> str:
        return plan("a cat\n", "text", defaults)[0][0].key

    plain = key(DEFAULTS)
    assert key(JobSpec(prompt="", model="seedance-2", duration=5)) != plain
    hooked = JobSpec(prompt="", model="seedance-2", webhook_url="https://h.example/cb")
    one = dataclasses.replace(hooked, webhook_secret="whsec-one")  # noqa: S106 - a test value
    two = dataclasses.replace(hooked, webhook_secret="whsec-two")  # noqa: S106 - a test value
    assert key(one) == key(two)


def test_a_line_s_own_fields_override_the_defaults() -> None:
    defaults = JobSpec(prompt="", model="seedance-2", duration=8, resolution="720p",
                       reference_image_urls=["https://i.example/default.png"])  # fmt: skip
    good, _ = plan(
        jsonl({"prompt": "a", "duration": 4, "reference_image_urls": ["https://i.example/own.png"]},
              {"prompt": "b"}),
        "jsonl",
        defaults,
    )  # fmt: skip
    own, inherited = good
    assert (own.body["duration"], own.body["resolution"]) == (4, "720p")
    assert own.body["reference_image_urls"] == ["https://i.example/own.png"]
    assert inherited.body["duration"] == 8
    assert inherited.body["reference_image_urls"] == ["https://i.example/default.png"]
    assert own.seconds == 4
    assert plan("x\n", "text")[0][0].seconds == 5  # the API's default


def test_the_format_follows_the_extension_or_the_flag() -> None:
    assert detect_format("shots.JSONL", None) == "jsonl"
    assert detect_format("shots.ndjson", None) == "jsonl"
    assert detect_format("shots.csv", None) == "csv"
    assert detect_format("prompts.txt", None) == "text"
    assert detect_format("-", None) == "text"
    assert detect_format("prompts.list", "text") == "text"
    with pytest.raises(BadInput, match="cannot tell the format"):
        detect_format("prompts.list", None)
    with pytest.raises(BadInput, match="unknown --format"):
        detect_format("prompts.txt", "yaml")


def test_a_file_that_is_not_utf8_names_its_line() -> None:
    with pytest.raises(BadInput, match="line 2 is not UTF-8"):
        list(read_lines(b"a cat\n\xff\xfe dog\n", "text"))
    with_bom = list(read_lines("\ufeffa cat\n".encode(), "text"))
    assert with_bom == list(read_lines(b"a cat\n", "text"))
