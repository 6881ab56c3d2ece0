"""Reading trained_data/ against its manifest: each table's file, sha256, header and row count.

`load_tables(directory)` returns the manifest and the checked frames, or raises TrainedDataError
with one line that says what is wrong and how to fix it. This is a light copy of
`offline.publish`'s checks: the web app imports no offline code.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from webapp.schema import INSIGHT_TABLES, OPTIONAL_TABLES, REQUIRED_TABLES

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
BUILD_HINT = "build it with `make build` (or `python -m offline build`)"
TEXT_TABLES = ("movies", "popular")  # read as text: titles like "NaN" or "Null" stay titles
INTEGER_COLUMNS = (
    "movie_id",
    "user_id",
    "neighbor_id",
    "vote_count",
    "rank",
    "ratings",
    "users",
    "first_year",
    "min_ratings",
    "max_ratings",
    "score_rank",
    "mean_rank",
)
NO_MANIFEST = (0, 0, 0)  # the stamp of a folder without a manifest


class TrainedDataError(RuntimeError):
    """trained_data/ is missing, incomplete or corrupt; the message is one line and says the fix.

    A RuntimeError, so that gunicorn (with preload_app) prints just this line and exits.
    `what` is the problem alone, without the folder's path (for /healthz).
    """

    def __init__(self, message: str, what: str | None = None) -> None:
        super().__init__(message)
        self.what = what or message


def fail(directory: Path, what: str) -> TrainedDataError:
    """The one-line error for an unusable folder."""
    return TrainedDataError(f"trained data in {directory} cannot be used: {what}; {BUILD_HINT}", what)


def manifest_stamp(directory: Path) -> tuple[int, int, int]:
    """(mtime_ns, size, inode) of the manifest; NO_MANIFEST when it is missing.

    The inode is part of it because a build swaps a whole new folder into place: a new manifest
    may have the old one's size and, on a coarse clock, its mtime.
    """
    try:
        st = os.stat(directory / MANIFEST)
    except OSError:
        return NO_MANIFEST
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def read_manifest(directory: Path) -> dict[str, Any]:
    """The parsed manifest.json, or TrainedDataError saying what is wrong."""
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(directory, f"{MANIFEST} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(directory, f"{MANIFEST} is unreadable ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tables"), dict):
        raise fail(directory, f"{MANIFEST} has no 'tables' object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise fail(
            directory,
            f"{MANIFEST} format_version is {manifest.get('format_version')!r}, expected {FORMAT_VERSION}",
        )
    if not isinstance(manifest.get("build_id"), str) or not manifest["build_id"]:
        raise fail(directory, f"{MANIFEST} has no build_id")
    return manifest


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


def check_table(directory: Path, name: str, entry: Any, needed: Sequence[str]) -> Path:
    """The table's file, after checking it against its manifest entry (sha256, header)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise fail(directory, f"{MANIFEST} has no file for table {name}")
    path = directory / entry["file"]
    if path.parent != directory or not path.is_file():
        raise fail(directory, f"table {name} ({entry['file']}) is missing")
    if _sha256(path) != entry.get("sha256"):
        raise fail(
            directory, f"table {name} ({entry['file']}) is corrupt: its sha256 differs from the manifest"
        )
    header = _header(path)
    if header != list(entry.get("columns", header)):
        raise fail(directory, f"table {name} has columns {header}, the manifest says {entry.get('columns')}")
    missing = [c for c in needed if c not in header]
    if missing:
        raise fail(directory, f"table {name} lacks column(s) {', '.join(missing)}")
    return path


def _read_table(directory: Path, name: str, path: Path, entry: Mapping[str, Any]) -> pd.DataFrame:
    """One table as a frame, with its row count and id columns checked."""
    try:
        if name in TEXT_TABLES:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
            frame = _convert_text_table(frame)
        else:
            frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise fail(directory, f"table {name} cannot be parsed ({str(exc).splitlines()[0]})") from None
    if "rows" in entry and len(frame) != entry["rows"]:
        raise fail(directory, f"table {name} has {len(frame)} rows, the manifest says {entry['rows']}")
    for column in INTEGER_COLUMNS:
        if column not in frame.columns:
            continue
        if frame.empty:  # no rows (a tiny data set's build): pandas reads the column as floats
            frame[column] = frame[column].astype("int64")
        elif not pd.api.types.is_integer_dtype(frame[column]):
            raise fail(directory, f"table {name} column {column} is not all integers")
    return frame


def _convert_text_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed columns for a table read as text (raises ValueError on a malformed number)."""
    out = frame.copy()
    for column in ("movie_id", "vote_count", "rank"):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column]).astype("int64")
    for column in ("year", "tmdb_id"):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column].replace("", None)).astype("Int64")
    for column in ("vote_mean", "score"):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column].replace("", None)).astype("float64")
    return out


def load_tables(directory: Path) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """(manifest, frames by table name) after every check; TrainedDataError otherwise."""
    manifest = read_manifest(directory)
    listed = manifest["tables"]
    absent = [name for name in REQUIRED_TABLES if name not in listed]
    if absent:
        raise fail(directory, f"{MANIFEST} lists no table {', '.join(absent)}")
    optional = {**OPTIONAL_TABLES, **INSIGHT_TABLES}
    wanted = {**REQUIRED_TABLES, **{k: v for k, v in optional.items() if k in listed}}
    frames = {}
    for name, needed in wanted.items():
        path = check_table(directory, name, listed[name], needed)
        frames[name] = _read_table(directory, name, path, listed[name])
    if frames["movies"]["movie_id"].duplicated().any():
        raise fail(directory, "table movies has duplicate movie_id values")
    return manifest, frames
