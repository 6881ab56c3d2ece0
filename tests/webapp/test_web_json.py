"""The app's JSON writer (webapp/jsonio.py): orjson, with the standard library's values."""

from __future__ import annotations

import datetime
import json

import pytest
from markupsafe import Markup

VALUES = [
    {"title": "Amélie (Le Fabuleux Destin d'Amélie Poulain)", "year": 2001, "score": 0.123456},
    {"nested": [1, 2.5, None, True, False, "", {"a": []}], "emoji": "🎬", "quote": '"\\'},
    {1: "int keys become strings", 2.5: "and floats"},
    {"big": 10**30, "negative": -(2**63) - 1},  # beyond 64 bits: orjson refuses, the fallback writes
    {"when": datetime.date(2026, 11, 26), "html": Markup("<b>x</b>")},  # Flask's `default`
    [],
    "plain",
]


@pytest.mark.parametrize("value", VALUES)
def test_written_json_reads_back_as_the_standard_library_writes_it(app, value) -> None:
    written = app.json.dumps(value)
    expected = json.loads(json.dumps(value, default=app.json.default, ensure_ascii=False))
    assert json.loads(written) == expected


def test_written_json_is_compact_utf8_and_keeps_key_order(app) -> None:
    assert app.json.dumps({"z": "é", "a": [1, 2]}) == '{"z":"é","a":[1,2]}'


def test_what_neither_writer_can_write_is_a_type_error(app) -> None:
    with pytest.raises(TypeError):
        app.json.dumps({"set": object()})
