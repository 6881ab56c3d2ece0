"""The command line's grammar: `python -m offline`'s subcommands and options, their value types
(whole numbers, shares, counts such as 25M), and the build configuration they make
(`config_from`). Parsing imports no Spark, TensorFlow or scikit-learn; `offline.cli` runs what
was asked for."""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from offline.config import (
    DEFAULT_DATA_DIR,
    DEFAULT_FEEDBACK_RATINGS,
    DEFAULT_OUT_DIR,
    DEFAULT_POSTERS,
    DEFAULT_WORK_DIR,
    BuildConfig,
)

DESCRIPTION = "`python -m offline`: build all tables, one stage, the evaluation, or check freshness."


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from offline.build import STAGES

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help="MovieLens release folder (ratings.csv, movies.csv, links.csv, tags.csv)",
    )
    common.add_argument(
        "--posters",
        type=Path,
        default=DEFAULT_POSTERS,
        help="poster URL table (movieId,title,genres,poster_url); 'none' for none",
    )
    common.add_argument(
        "--out-dir",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help="where the tables are published (default: trained_data/)",
    )
    common.add_argument(
        "--work-dir",
        default=str(DEFAULT_WORK_DIR),
        help="the checked ratings (Parquet) and Spark checkpoints; on a cluster a "
        "shared path such as hdfs://... (default: .cache/)",
    )
    common.add_argument("--seed", type=seed, default=BuildConfig.seed, help="the one seed of the build")
    common.add_argument(
        "--master", default=None, help="Spark master URL (default: $SPARK_MASTER or local[*])"
    )
    common.add_argument(
        "--max-bad-share",
        type=share,
        default=BuildConfig.max_bad_share,
        help="fail when more than this share of a file's rows is malformed",
    )
    common.add_argument(
        "--include-feedback",
        nargs="?",
        type=Path,
        const=DEFAULT_FEEDBACK_RATINGS,
        default=None,
        metavar="PATH",
        help="add visitors' ratings from `export-feedback` to the input "
        f"(default PATH: {DEFAULT_FEEDBACK_RATINGS.relative_to(DEFAULT_OUT_DIR.parent)})",
    )

    parser = argparse.ArgumentParser(prog="python -m offline", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", parents=[common], help="build every table and publish them")
    build.add_argument(
        "--if-stale",
        action="store_true",
        help="only when trained_data/ is missing or older than its code/data/config",
    )
    for name, stage in STAGES.items():
        sub.add_parser(name, parents=[common], help=f"rebuild only stage {name}: {stage.description}")
    sub.add_parser("status", parents=[common], help="say whether trained_data/ is current")
    bench = sub.add_parser(
        "benchmark", parents=[common], help="time each stage on the data (into a temporary folder)"
    )
    bench.add_argument("--with-evaluate", action="store_true", help="time the evaluation too")
    bench.add_argument(
        "--synth",
        default=None,
        metavar="SIZES",
        help="comma-separated synthetic sizes instead of --data-dir, e.g. 1M,5M,25M "
        "(generated once into the work folder)",
    )
    bench.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep each size's built tables in DIR/trained_data-N (for bench-web)",
    )
    add_download_parser(sub, defaults=vars(common.parse_args([])))
    export = sub.add_parser(
        "export-feedback",
        parents=[common],
        help="write visitors' feedback as MovieLens ratings (for build --include-feedback)",
        description="Read the web app's feedback database and write its ratings in ratings.csv "
        "format, as new user ids above the data set's (offline/feedback_export.py "
        "says how each kind of mark becomes a rating).",
    )
    export.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_FEEDBACK_RATINGS,
        help="the CSV to write (a .json note goes beside it)",
    )
    export.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL (default: the web app's: $MOVIEREC_DATABASE_URL, "
        "else the SQLite file $MOVIEREC_DATABASE_PATH or var/movierec.sqlite3)",
    )
    export.add_argument(
        "--min-signals",
        type=whole(1, 1_000),
        default=3,
        help="leave out visitors with fewer marks on recommendations",
    )
    export.add_argument(
        "--user-id-base",
        type=whole(1, MAX_USER_ID_BASE),
        default=None,
        help="first visitor user id (default: the first power of ten above the data set's largest user id)",
    )
    add_synth_parser(sub, defaults=vars(common.parse_args([])))
    return parser.parse_args(argv)


def share(text: str) -> float:
    """A share from 0 to 1 such as 0.01 (for --max-bad-share: 2 or nan would never fail a file)."""
    if not re.fullmatch(r"[01]?\.[0-9]+|[01]", text) or not 0.0 <= float(text) <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1 such as 0.01, got {text!r}")
    return float(text)


MAX_SEED = 2**32 - 1  # numpy's generators (the synthetic data's) take 0 .. 2**32 - 1
MAX_USER_ID_BASE = 2_000_000_000  # room below the ratings tables' 32-bit user ids for the visitors


def whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high in ASCII digits (webapp.params.parse_int,
    the project's one integer parser)."""

    def parse(text: str) -> int:
        from webapp.params import parse_int  # lazily: the web package is not needed to parse

        value = parse_int(text, low, high, spaces=False)
        if value is None:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}, got {text!r}")
        return value

    parse.__name__ = "whole number"  # argparse names the type in its own messages
    return parse


seed = whole(0, MAX_SEED)  # a negative seed failed deep in numpy


def count(text: str) -> int:
    """A count such as 25000000, 25M, 1.5m or 100k (for --ratings)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a count like 1000000, 25M or 100k, got {text!r}")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return int(round(float(match.group(1)) * scale))


def add_synth_parser(sub: argparse._SubParsersAction, defaults: dict) -> None:
    """`synth --ratings N --out DIR`: a seeded MovieLens-format release of any size."""
    synth = sub.add_parser(
        "synth",
        help="write a synthetic MovieLens-format release (seeded) for benchmarks",
        description="Write ratings.csv, movies.csv, links.csv and tags.csv in MovieLens format "
        "with the real data's shape (long tails, at least 20 ratings per user, "
        "half stars, a learnable taste structure). Same seed, same bytes.",
    )
    synth.add_argument("--ratings", type=count, required=True, help="how many ratings (25M, 100k)")
    synth.add_argument("--out", type=Path, required=True, help="the folder to write")
    synth.add_argument("--seed", type=seed, default=42, help="the one seed (same seed, same bytes)")
    synth.add_argument("--users", type=count, default=None, help="default: ratings / 154, as in ml-25m")
    synth.add_argument(
        "--movies", type=count, default=None, help="default: 12.5 * sqrt(ratings), about 62,500 at 25M"
    )
    synth.set_defaults(**defaults)


def add_download_parser(sub: argparse._SubParsersAction, defaults: dict) -> None:
    """`download NAME`: fetch a GroupLens release into data/NAME (no Spark involved)."""
    from offline.data.download import RELEASES
    from offline.data.fetch import BASE_URL_ENV, DEFAULT_BASE_URL

    download = sub.add_parser(
        "download",
        help="fetch a MovieLens release from GroupLens into data/NAME",
        description="Download a MovieLens release from GroupLens, check its published MD5, "
        "resume an interrupted download, and unpack it into DATA_ROOT/NAME. The data "
        "comes under GroupLens' license (README.txt in the release); it is never "
        "committed.",
    )
    download.add_argument(
        "name", metavar="NAME", choices=RELEASES, help=f"the release: {', '.join(RELEASES)}"
    )
    download.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA_DIR.parent,
        help="where NAME/ is unpacked (default: data/)",
    )
    download.add_argument(
        "--base-url",
        default=None,
        help=f"where NAME.zip and NAME.zip.md5 are served (default: ${BASE_URL_ENV} or {DEFAULT_BASE_URL})",
    )
    download.add_argument(
        "--force",
        action="store_true",
        help="fetch again even when data/NAME is there; it is replaced only once the new copy is complete",
    )
    download.add_argument(
        "--keep-zip", action="store_true", help="keep the verified zip in DATA_ROOT/.downloads/"
    )
    download.set_defaults(**defaults)  # config_from() reads the build options; unused here


def path_or_uri(value: str | Path) -> str | Path:
    """A URI (hdfs://, s3a://, file://) stays a string; anything else is a local Path."""
    from offline.data.storage import is_uri

    return str(value) if is_uri(str(value)) else Path(value)


def config_from(args: argparse.Namespace) -> BuildConfig:
    posters = None if str(args.posters).lower() == "none" else args.posters
    feedback = getattr(args, "include_feedback", None)
    changes = dict(
        data_dir=path_or_uri(args.data_dir),
        posters_path=posters,
        out_dir=args.out_dir,
        work_dir=path_or_uri(args.work_dir),
        seed=args.seed,
        max_bad_share=args.max_bad_share,
        feedback_ratings=None if feedback is None else path_or_uri(feedback),
    )
    if args.master:
        changes["spark_master"] = args.master
    return dataclasses.replace(BuildConfig(), **changes)
