"""The one error type for input data that cannot be used."""

from __future__ import annotations


class DataError(Exception):
    """The input data cannot be used; the message says what, where and what was expected."""
