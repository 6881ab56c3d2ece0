"""The app's JSON writer: Flask's provider with orjson doing the writing.

Every API answer is written through it (`jsonify`, and the recommendations body, which is made
once per profile and then cached). orjson writes the same JSON values as the standard library,
compact and in UTF-8, several times faster: the varied API call spent about 65 us of its time in
json.dumps. Reading stays with the standard library (webapp.api parses strictly, refusing NaN).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

# int keys written as strings, as json.dumps writes them; dates, datetimes and dataclasses left
# to Flask's `default`, so they come out exactly as before (an HTTP date, dataclasses.asdict)
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class OrjsonProvider(DefaultJSONProvider):
    """DefaultJSONProvider (its `default` for dates, decimals, Markup ...) writing with orjson
    (keys in the order written: orjson never sorts)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        indent = kwargs.get("indent")
        try:
            return orjson.dumps(
                obj, default=self.default, option=_OPTIONS | (orjson.OPT_INDENT_2 if indent else 0)
            ).decode()
        except orjson.JSONEncodeError:
            # what orjson cannot write, such as an integer beyond 64 bits echoed back from bad
            # input: the standard library writes it (or raises the same TypeError it always did)
            separators = None if indent else (",", ":")
            return json.dumps(
                obj, default=self.default, ensure_ascii=False, indent=indent, separators=separators
            )
