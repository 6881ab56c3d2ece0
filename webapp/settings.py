"""The app's configuration, read from the environment (12-factor style).

| variable | default | meaning |
| --- | --- | --- |
| `MOVIEREC_TRAINED_DATA` | `<project>/trained_data` | the folder the offline build writes |
| `MOVIEREC_SECRET_KEY` | random per start (warning) | signs the session cookie that holds the CSRF token |
| `MOVIEREC_RELOAD_INTERVAL` | `1` | seconds between looks at the manifest (negative: never) |
| `MOVIEREC_SECURE_COOKIES` | `0` | `1` behind HTTPS: cookies only over HTTPS |

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
    return out
