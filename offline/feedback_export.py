"""`python -m offline export-feedback`: visitors' feedback as MovieLens ratings for the next build.

Reads every stored mark (webapp/db.py's feedback table, SQLite or any SQLAlchemy database, never
written to) and writes `var/feedback-ratings.csv` (userId,movieId,rating,timestamp, the
ratings.csv format) plus a small JSON note beside it. `python -m offline build --include-feedback`
then adds those rows to the data set's ratings.

Per visitor, the latest mark on each movie counts (a mark taken back with "undo" counts as none).
What a mark becomes (webapp/marks.py defines the same mapping for the live profile):

| mark | rating |
| --- | --- |
| one of the three picks ("Pick three films you love") | 4.5 |
| loved ("Seen it, loved it") | 4.5 |
| rated N | N |
| not_for_me ("Seen it, not for me") | 1.5 |
| not_interested | none: the visitor may never have seen it, and a rating would say they had |
| more_like_this | none: interest, not a judgement of a film they saw |

Why: 4.5 is the loved rating the recommender's profile uses (a pick and a "loved" count the same),
and MovieLens users who "love" a film mostly give 4.5 or 5; 1.5 is as far below the 3.5 mean as
4.5 is above it, without claiming the worst score. A visitor counts once they gave at least
MIN_SIGNALS marks on recommended movies (picks and undone marks are not signals): fewer is too
little to learn from, and it keeps out a stray click.

User ids: visitors are numbered from the first power of ten above the data set's largest user id
(ml-latest-small's 610 -> 1000, 1001, ...; ml-32m's 200,948 -> 1,000,000, ...), in the order they
first gave feedback, so they can never be a MovieLens user's id (the build checks this again).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

MIN_SIGNALS = 3
PICK_RATING = 4.5
HEADER = "userId,movieId,rating,timestamp"
NOT_RATINGS = ("not_interested", "more_like_this", "undo")


def export_rating(kind: str, rating: float | None) -> float | None:
    """The MovieLens rating of a stored mark (None: no rating row)."""
    from webapp.marks import NOT_FOR_ME_RATING
    from webapp.recommend import LOVED_RATING

    return {"pick": PICK_RATING, "loved": LOVED_RATING, "rated": rating, "not_for_me": NOT_FOR_ME_RATING}.get(
        kind
    )


@dataclass
class Visitor:
    first_id: int
    latest: dict[int, tuple[str, float | None, int]] = field(default_factory=dict)
    # movie -> (kind, rating, unix time) of the latest mark

    def signals(self) -> int:
        """Movies with a standing mark on a recommendation (not a pick, not taken back)."""
        return sum(kind not in ("pick", "undo") for kind, _, _ in self.latest.values())

    def rows(self) -> list[tuple[int, float, int]]:
        out = []
        for movie, (kind, rating, when) in sorted(self.latest.items()):
            value = export_rating(kind, rating)
            if value is not None:
                out.append((movie, value, when))
        return out


def collect(marks: Iterable[dict[str, Any]]) -> dict[str, Visitor]:
    """Each visitor's latest mark per movie, from the marks in id order."""
    visitors: dict[str, Visitor] = {}
    for mark in marks:
        visitor = visitors.setdefault(mark["visitor_id"], Visitor(int(mark["id"])))
        created = mark["created_at"]
        if created.tzinfo is None:  # SQLite keeps no zone: the app writes UTC
            created = created.replace(tzinfo=dt.UTC)
        movie = int(mark["movie_id"])
        if mark["kind"] == "pick" and movie in visitor.latest:
            continue  # a pick stored again under a later list does not undo a mark
        visitor.latest[movie] = (mark["kind"], mark["rating"], int(created.timestamp()))
    return visitors


def user_id_base(max_user_id: int) -> int:
    """The first power of ten above the data set's largest user id."""
    base = 10
    while base <= max_user_id:
        base *= 10
    return base


def data_set_max_user_id(data_dir: Path | str) -> int:
    """The largest userId in the data set's ratings.csv (one column read)."""
    path = Path(data_dir) / "ratings.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; pass the --data-dir the build uses (or --user-id-base)")
    ids = pd.read_csv(path, usecols=["userId"], dtype={"userId": "int64"})["userId"]
    return int(ids.max()) if len(ids) else 0


def export(
    database_url: str,
    out: Path,
    *,
    data_dir: Path | str | None = None,
    base: int | None = None,
    min_signals: int = MIN_SIGNALS,
) -> dict[str, Any]:
    """Write the ratings file and its note; return the note."""
    from webapp.db import current_revision, describe, make_engine
    from webapp.feedback_store import iter_marks

    for path in (out, out.with_suffix(".json")):
        if path.is_dir():
            raise ValueError(f"{path} is a folder; pass the path of the CSV file to write to --out")
    if out.exists() and not _is_export(out):
        # same header as a release's ratings.csv: --out data/ml-25m/ratings.csv would replace it
        raise ValueError(
            f"{out} exists and is not an earlier export (no note {out.with_suffix('.json').name} "
            f"beside it), so it is left alone: pass a new path to --out"
        )
    max_user = None
    if base is None:
        if data_dir is None:
            raise ValueError("export needs the data set's folder (data_dir) or a user id base")
        max_user = data_set_max_user_id(data_dir)
        base = user_id_base(max_user)
    engine = make_engine(database_url, writes=False)
    try:
        if current_revision(engine) is None:
            raise RuntimeError(
                f"database {describe(database_url)} holds no feedback tables: "
                f"point --database-url (or MOVIEREC_DATABASE_URL / _PATH) at the "
                f"web app's database"
            )
        visitors = collect(iter_marks(engine))
    finally:
        engine.dispose()
    kept = sorted((v for v in visitors.values() if v.signals() >= min_signals), key=lambda v: v.first_id)
    lines = [HEADER]
    for n, visitor in enumerate(kept):
        lines += [f"{base + n},{movie},{rating:g},{when}" for movie, rating, when in visitor.rows()]
    note = {
        "database": describe(database_url),
        "user_id_base": base,
        "data_set_max_user_id": max_user,
        "min_signals": min_signals,
        "visitors": len(kept),
        "left_out": len(visitors) - len(kept),
        "ratings": len(lines) - 1,
        "mapping": {
            "pick": PICK_RATING,
            "loved": export_rating("loved", None),
            "rated": "the rating",
            "not_for_me": export_rating("not_for_me", None),
            "not_interested": None,
            "more_like_this": None,
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(out, "\n".join(lines) + "\n")
    _write_atomically(out.with_suffix(".json"), json.dumps(note, indent=2) + "\n")
    return note


def _is_export(path: Path) -> bool:
    """Whether path was written by export (its note says so)."""
    try:
        note = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(note, dict) and "user_id_base" in note and "mapping" in note


def _write_atomically(path: Path, text: str) -> None:
    """A reader (a build) sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
