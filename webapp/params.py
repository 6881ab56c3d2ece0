"""Request values parsed in one place: integers from text, typed JSON fields, ids in paths.

Integers from text go through `parse_int` only. It accepts ASCII digits and nothing else: Python's
`str.isdigit()` and regex `\\d` also accept "²", "①" and "٣", which `int()` then rejects or reads
as another number. JSON fields are checked for their type before their value is used (a list or
an object where a string belongs cannot be looked up in a dict: it is unhashable).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from werkzeug.routing import BaseConverter, ValidationError

MAX_ID = 2**31 - 1  # movie and user ids are 32-bit in MovieLens and in the trained tables
# Enough digits for any id or limit (leading zeros allowed); longer text is never converted, so
# int() never sees thousands of digits.
_ASCII_INT = re.compile(r"[0-9]{1,20}")


class ParameterError(ValueError):
    """A query parameter or JSON field has the wrong type or value; the message says which."""


def parse_int(raw: str, lo: int, hi: int, *, spaces: bool = True) -> int | None:
    """An integer from lo to hi written in ASCII digits, else None. Spaces around it are allowed
    in request values; settings and command-line options (spaces=False) take none."""
    text = raw.strip() if spaces else raw
    if not _ASCII_INT.fullmatch(text):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def query_int(args: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter (default when absent); ParameterError when it is not lo..hi."""
    raw = args.get(name)
    if raw is None:
        return default
    value = parse_int(raw, lo, hi)
    if value is None:
        raise ParameterError(f"{name} must be an integer from {lo} to {hi}.")
    return value


def json_int(body: Mapping[str, Any], name: str, lo: int, hi: int) -> int | None:
    """An integer JSON field (None when absent); ParameterError unless it is a JSON integer
    from lo to hi (not a boolean, a float or a string of digits)."""
    if name not in body:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ParameterError(f"{name} must be an integer from {lo} to {hi}.")
    return value


def json_choice(body: Mapping[str, Any], name: str, choices: Collection[str], default: str) -> str:
    """A string JSON field that must be one of choices (default when absent); ParameterError
    for any other value or type."""
    value = body.get(name, default)
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(sorted(choices))}.")
    return value


class IdConverter(BaseConverter):
    """`<id:name>` in a route: 0..2^31-1 in ASCII digits; anything else does not match (404)."""

    regex = r"[0-9]{1,20}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        parsed = parse_int(value, 0, MAX_ID)
        if parsed is None:
            raise ValidationError()
        return parsed

    def to_url(self, value: Any) -> str:
        return str(int(value))
