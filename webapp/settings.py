"""The app's configuration, read from the environment (12-factor style).

| variable | default | meaning |
| --- | --- | --- |
| `MOVIEREC_TRAINED_DATA` | `<project>/trained_data` | the folder the offline build writes |
| `MOVIEREC_SECRET_KEY` | random per start (warning) | signs the session cookie that holds the CSRF token |
| `MOVIEREC_RELOAD_INTERVAL` | `1` | seconds between looks at the manifest (negative: never) |
| `MOVIEREC_SECURE_COOKIES` | `0` | `1` behind HTTPS: cookies only over HTTPS |
| `MOVIEREC_DATABASE_PATH` | `<project>/var/movierec.sqlite3` | the SQLite file of visitors' feedback |
| `MOVIEREC_DATABASE_URL` | unset | any SQLAlchemy URL instead (`postgresql+psycopg://...`) |
| `MOVIEREC_DATABASE_MIGRATE` | `upgrade` | at start-up: `upgrade` the schema, or only `check` it |
| `MOVIEREC_RATE_LIMIT_VISITOR` | `60` | feedback marks per minute per visitor (0: no limit) |
| `MOVIEREC_RATE_LIMIT_ADDRESS` | `600` | feedback marks per minute per network address (0: no limit) |
| `MOVIEREC_PROXY_COUNT` | `0` | reverse proxies in front whose `X-Forwarded-*` headers are trusted |

Host, port and workers are gunicorn's: see `webapp/gunicorn_conf.py`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
_ENV = {
    "MOVIEREC_DATABASE_URL": ("DATABASE_URL", str),
    "MOVIEREC_DATABASE_PATH": ("DATABASE_PATH", str),
    "MOVIEREC_DATABASE_MIGRATE": ("DATABASE_MIGRATE", str),
    "MOVIEREC_RATE_LIMIT_VISITOR": ("RATE_LIMIT_VISITOR", int),
    "MOVIEREC_RATE_LIMIT_ADDRESS": ("RATE_LIMIT_ADDRESS", int),
    "MOVIEREC_PROXY_COUNT": ("PROXY_COUNT", int),
}


def settings_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The settings that the environment overrides."""
    out: dict[str, Any] = {}
    if environ.get("MOVIEREC_TRAINED_DATA"):
        out["TRAINED_DATA"] = environ["MOVIEREC_TRAINED_DATA"]
    if environ.get("MOVIEREC_SECRET_KEY"):
        out["SECRET_KEY"] = environ["MOVIEREC_SECRET_KEY"]
    if environ.get("MOVIEREC_RELOAD_INTERVAL"):
        out["RELOAD_INTERVAL"] = float(environ["MOVIEREC_RELOAD_INTERVAL"])
    if environ.get("MOVIEREC_SECURE_COOKIES"):
        out["SESSION_COOKIE_SECURE"] = environ["MOVIEREC_SECURE_COOKIES"] == "1"
    for variable, (key, convert) in _ENV.items():
        if environ.get(variable):
            try:
                out[key] = convert(environ[variable])
            except ValueError:
                raise ValueError(f"{variable} must be an integer, got {environ[variable]!r}") from None
    return out
