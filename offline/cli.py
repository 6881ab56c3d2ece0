"""`python -m offline`: build all tables, one stage, the evaluation, or check freshness."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from offline.config import (
    DEFAULT_DATA_DIR,
    DEFAULT_FEEDBACK_RATINGS,
    DEFAULT_OUT_DIR,
    DEFAULT_POSTERS,
    DEFAULT_WORK_DIR,
    BuildConfig,
)

console = Console(stderr=True, highlight=False, log_path=False, soft_wrap=True)


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

    parser = argparse.ArgumentParser(prog="python -m offline", description=__doc__)
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
    from offline.data.download import BASE_URL_ENV, DEFAULT_BASE_URL, RELEASES

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


def run_with_progress(config: BuildConfig, names: list[str]):
    """Run stages under a live status line; return the runs and the manifest."""
    from offline.build import run_stages

    started = time.perf_counter()
    with console.status("starting") as status:
        current = {"stage": ""}

        def on_stage(name: str) -> None:
            if current["stage"]:
                console.log(f"[green]done[/] {current['stage']}")
            current["stage"] = name
            status.update(f"[bold]{name}[/]")

        def progress(message: str) -> None:
            elapsed = time.perf_counter() - started
            status.update(f"[bold]{current['stage'] or 'build'}[/]: {message} ({elapsed:.0f} s)")

        runs, manifest = run_stages(config, names, progress=progress, on_stage=on_stage)
        console.log(f"[green]done[/] {current['stage']}")
    return runs, manifest


def print_summary(runs, manifest: dict, out_dir: Path) -> None:
    table = Table(title=f"Published {out_dir} (build {manifest['build_id']})")
    table.add_column("stage")
    table.add_column("rows written", justify="right")
    table.add_column("seconds", justify="right")
    for run in runs:
        table.add_row(run.name, f"{run.rows:,}", f"{run.seconds:.1f}")
    table.add_row("[bold]total[/]", f"{sum(r.rows for r in runs):,}", f"{sum(r.seconds for r in runs):.1f}")
    console.print(table)
    if any(run.name == "evaluate" for run in runs):
        print_evaluation(manifest.get("metrics", {}).get("evaluate", {}), out_dir)
    for line in headline_metrics(manifest):
        console.print(line)


def print_evaluation(metrics: dict, out_dir: Path) -> None:
    """The evaluation's summary: one row per method (three-pick protocol, variant A)."""
    rows = metrics.get("summary") or []
    if not rows:
        return
    from offline.evaluation.report import SUMMARY_COLUMNS

    labels = [label for _, label in SUMMARY_COLUMNS]
    table = Table(title="Three-pick protocol (variant A: picks from all 4+ star movies)")
    for label in labels:
        table.add_column(label, justify="left" if label == "method" else "right", no_wrap=label == "method")
    for row in rows:
        table.add_row(*[str(row.get(label, "")) for label in labels])
    wide = Console(stderr=True, highlight=False, width=max(console.width, 150))
    wide.print(table)
    console.print(
        f"goals met: {metrics.get('goals_met')} of {metrics.get('goals')}; "
        f"full report: {out_dir / 'report.html'} (and /report in the web app)"
    )


def headline_metrics(manifest: dict) -> list[str]:
    """A few lines of the figures people look at first."""
    lines = []
    als = manifest.get("metrics", {}).get("als", {})
    if "test_rmse" in als:
        lines.append(f"ALS test RMSE {als['test_rmse']:.4f}, MAE {als.get('test_mae', float('nan')):.4f}")
    evaluation = manifest.get("metrics", {}).get("evaluate", {})
    if "hr_at_10" in evaluation:
        lines.append(
            f"three-pick HR@10 {evaluation['hr_at_10']:.3f}, coverage {evaluation.get('coverage', '?')}"
        )
    if evaluation.get("second_round_hr_at_10") is not None:
        lines.append(
            f"after feedback on the ten: second-round HR@10 "
            f"{evaluation['second_round_hr_at_10']:.3f} on the movies not shown yet "
            f"(first round {evaluation['first_round_same_users_hr_at_10']:.3f}, same users)"
        )
    bad = manifest.get("bad_rows") or {}
    for file, kinds in bad.items():
        for kind, info in kinds.items():
            lines.append(
                f"[yellow]skipped[/] {info['count']} {kind} row(s) in {file}, "
                f"e.g. line(s) {info['example_lines']}"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = config_from(args)
    try:
        return dispatch(args, config)
    except KeyboardInterrupt:
        console.print("[red]error:[/] interrupted; the published tables were left as they were")
        return 130
    except Exception as exc:  # one line for people; the traceback only on request
        if os.environ.get("OFFLINE_TRACEBACK"):  # for developers: the full traceback
            raise
        console.print(f"[red]error:[/] {type(exc).__name__}: {exc}", soft_wrap=True)
        return 1


def run_synth(args: argparse.Namespace) -> int:
    """Write the synthetic release with a progress bar over the ratings."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from offline.data.synth import SynthSize, check_out_dir, write_release

    try:
        size = SynthSize.for_ratings(args.ratings, args.users, args.movies)
        check_out_dir(args.out)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    columns = (
        TextColumn("ratings.csv"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("ratings", total=size.ratings)
        info = write_release(
            args.out, size, args.seed, progress=lambda done: bar.update(task, completed=done)
        )
    console.print(
        f"wrote {info['ratings']:,} ratings of {info['users']:,} users on "
        f"{info['movies']:,} movies (seed {args.seed}) into {args.out} "
        f"in {info['seconds']:.0f} s"
    )
    return 0


def run_export(args: argparse.Namespace) -> int:
    """`export-feedback`: the database's marks -> MovieLens ratings for the next build."""
    from offline.feedback_export import export
    from webapp.db import database_url
    from webapp.settings import DEFAULTS, settings_from_env

    url = args.database_url or database_url({**DEFAULTS, **settings_from_env(os.environ)})
    note = export(
        url,
        args.out,
        data_dir=None if args.user_id_base is not None else args.data_dir,
        base=args.user_id_base,
        min_signals=args.min_signals,
    )
    console.print(
        f"wrote {note['ratings']:,} ratings of {note['visitors']:,} visitors "
        f"(user ids from {note['user_id_base']:,}; {note['left_out']:,} visitors with "
        f"fewer than {note['min_signals']} marks left out) from {note['database']} "
        f"into {args.out}; build with them: python -m offline build --include-feedback"
        + ("" if args.out == DEFAULT_FEEDBACK_RATINGS else f" {args.out}")
    )
    return 0


def dispatch(args: argparse.Namespace, config: BuildConfig) -> int:
    if args.command == "synth":
        return run_synth(args)
    if args.command == "export-feedback":
        return run_export(args)
    if args.command == "download":
        from rich.markup import escape

        from offline.data.download import download_release, interrupted_note

        try:
            download_release(
                args.name,
                args.data_root,
                base_url=args.base_url,
                force=args.force,
                keep_zip=args.keep_zip,
                console=console,
            )
        except KeyboardInterrupt:
            console.print(f"[red]error:[/] {escape(interrupted_note(args.data_root, args.name))}")
            return 130
        return 0
    from offline.build import BUILD_STAGES, STAGES, stale_reason

    if args.command == "status":
        reason = stale_reason(config)
        console.print(f"{config.out_dir}: " + (f"stale ({reason})" if reason else "current"))
        return 0 if reason is None else 3
    if args.command == "benchmark":
        from offline.benchmark import run_benchmark

        sizes = [count(x) for x in args.synth.split(",")] if args.synth else None
        return run_benchmark(config, with_evaluate=args.with_evaluate, synth=sizes, keep=args.keep)
    if args.command == "build":
        if args.if_stale:
            reason = stale_reason(config)
            if reason is None:
                console.print(f"{config.out_dir} is current; nothing to build")
                return 0
            console.print(f"building {config.out_dir}: {reason}")
        names = BUILD_STAGES
    else:
        names = [args.command]
        assert args.command in STAGES
    from offline.scratch import build_tempdir

    with build_tempdir(config.work_dir):  # this run's temporary files, removed when it ends
        runs, manifest = run_with_progress(config, names)
    print_summary(runs, manifest, config.out_dir)
    return 0
