"""The app's configuration, read from the environment (12-factor style).

| variable | default | meaning |
| --- | --- | --- |
| `MOVIEREC_TRAINED_DATA` | `<project>/trained_data` | the folder the offline build writes |
| `MOVIEREC_SECRET_KEY` | random per start (warning) | signs the session cookie that holds the CSRF token |
| `MOVIEREC_RELOAD_INTERVAL` | `1` | seconds between looks at the manifest (negative: never) |
| `MOVIEREC_SECURE_COOKIES` | `0` | `1` (or `true`, `yes`, `on`) behind HTTPS: cookies only over HTTPS |
| `MOVIEREC_DATABASE_PATH` | `<project>/var/movierec.sqlite3` | the SQLite file of visitors' feedback |
| `MOVIEREC_DATABASE_URL` | unset | any SQLAlchemy URL instead (`postgresql+psycopg://...`) |
| `MOVIEREC_DATABASE_MIGRATE` | `upgrade` | at start-up: `upgrade` the schema, or only `check` it |
| `MOVIEREC_RATE_LIMIT_VISITOR` | `60` | feedback marks per minute per visitor (0: no limit) |
| `MOVIEREC_RATE_LIMIT_ADDRESS` | `600` | feedback marks per minute per network address (0: no limit) |
| `MOVIEREC_PROXY_COUNT` | `0` | reverse proxies in front whose `X-Forwarded-*` headers are trusted |

A value the app cannot use (`MOVIEREC_PROXY_COUNT=one`, `MOVIEREC_SECURE_COOKIES=maybe`) stops
start-up with one line that names the variable. Host, port, workers and the log level are
gunicorn's: see `webapp/gunicorn_conf.py`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from webapp.params import parse_int  # ASCII digits only: int() also takes "٣" and " 3 "

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_BODY_BYTES = 16 * 1024

DEFAULTS: Mapping[str, Any] = {
    "DEBUG": False,
    "TESTING": False,
    "TRAINED_DATA": str(PROJECT_ROOT / "trained_data"),
    "SECRET_KEY": None,
    "RELOAD_INTERVAL": 1.0,
    "PAGE_CACHE_SIZE": 512,  # rendered result pages per worker (about 25 kB each)
    "CARD_CACHE_SIZE": 16384,  # rendered picker cards and result-card parts per worker (~1 kB each)
    "MAX_CONTENT_LENGTH": MAX_BODY_BYTES,  # larger bodies: 413
    "MAX_FORM_MEMORY_SIZE": MAX_BODY_BYTES,
    "MAX_FORM_PARTS": 100,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,
    "WTF_CSRF_TIME_LIMIT": 6 * 3600,
    "WTF_CSRF_SSL_STRICT": False,  # the Referer check; the token check stays on
    "SEND_FILE_MAX_AGE_DEFAULT": 365 * 24 * 3600,  # static URLs carry a version query
    # Visitors' feedback (webapp/db.py): outside trained_data/, so a rebuild never touches it.
    "DATABASE_URL": None,
    "DATABASE_PATH": str(PROJECT_ROOT / "var" / "movierec.sqlite3"),
    "DATABASE_MIGRATE": "upgrade",
    "RATE_LIMIT_VISITOR": 60,
    "RATE_LIMIT_ADDRESS": 600,
    # Behind a reverse proxy the peer is the proxy: trust this many proxies' X-Forwarded-*
    # headers for the visitor's address (rate limits, the access log), scheme, host and mount
    # prefix. 0 by default: a client could send those headers itself.
    "PROXY_COUNT": 0,
}


class SettingsError(RuntimeError, ValueError):
    """A variable of the environment holds a value the app cannot use; the message names it, what
    was found and what is expected, on one line. A RuntimeError, so that gunicorn (preload_app)
    prints just this line and exits; a ValueError, as the bad value is one."""


MAX_PROXY_COUNT = 10  # MOVIEREC_PROXY_COUNT's bound (webapp._trust_proxies checks a configured value)
_NUMBER = re.compile(r"-?[0-9]{1,9}(\.[0-9]{1,9})?")  # no "nan", "inf" or "1e9"
_SWITCH = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _whole(low: int, high: int) -> Callable[[str, str], int]:
    def parse(variable: str, text: str) -> int:
        value = parse_int(text, low, high, spaces=False)
        if value is None:
            raise SettingsError(f"{variable} must be a whole number from {low} to {high:,}, got {text!r}")
        return value

    return parse


def _seconds(variable: str, text: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise SettingsError(
            f"{variable} must be a number of seconds such as 1 or 0.5 (negative: never), got {text!r}"
        )
    return float(text)


def _switch(variable: str, text: str) -> bool:
    found = _SWITCH.get(text.lower())
    if found is None:
        raise SettingsError(f"{variable} must be 1 or 0 (or true / false, yes / no, on / off), got {text!r}")
    return found


def _text(variable: str, text: str) -> str:
    return text


# variable -> (setting, parser); an empty variable counts as unset
_ENV: Mapping[str, tuple[str, Callable[[str, str], Any]]] = {
    "MOVIEREC_TRAINED_DATA": ("TRAINED_DATA", _text),
    "MOVIEREC_SECRET_KEY": ("SECRET_KEY", _text),
    "MOVIEREC_RELOAD_INTERVAL": ("RELOAD_INTERVAL", _seconds),
    "MOVIEREC_SECURE_COOKIES": ("SESSION_COOKIE_SECURE", _switch),
    "MOVIEREC_DATABASE_URL": ("DATABASE_URL", _text),
    "MOVIEREC_DATABASE_PATH": ("DATABASE_PATH", _text),
    "MOVIEREC_DATABASE_MIGRATE": ("DATABASE_MIGRATE", _text),  # checked by webapp/db.py
    "MOVIEREC_RATE_LIMIT_VISITOR": ("RATE_LIMIT_VISITOR", _whole(0, 1_000_000)),
    "MOVIEREC_RATE_LIMIT_ADDRESS": ("RATE_LIMIT_ADDRESS", _whole(0, 1_000_000)),
    "MOVIEREC_PROXY_COUNT": ("PROXY_COUNT", _whole(0, MAX_PROXY_COUNT)),
}


def settings_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The settings that the environment overrides; SettingsError for a value the app cannot use."""
    return {
        key: parse(variable, environ[variable])
        for variable, (key, parse) in _ENV.items()
        if environ.get(variable)
    }
