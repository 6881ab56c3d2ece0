"""`python -m offline`: build all tables, one stage, the evaluation, or check freshness.

`offline.cli_args` parses the command line; this module runs what it asks for, with progress
and a summary for people, and turns any failure into one line (the traceback with
OFFLINE_TRACEBACK=1).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from offline.cli_args import config_from, count, parse_args
from offline.config import DEFAULT_FEEDBACK_RATINGS, BuildConfig

console = Console(stderr=True, highlight=False, log_path=False, soft_wrap=True)


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
