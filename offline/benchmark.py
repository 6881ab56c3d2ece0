"""`python -m offline benchmark`: wall time of each stage on the data, into a throwaway folder."""
from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from offline.build import BUILD_STAGES, run_stages
from offline.config import BuildConfig

BUILD_GOAL_S = 120.0  # whole build on ml-latest-small, this 2-core machine (issues 2 and 3)
SPARK_BUILD_GOAL_S = 90.0  # load + popular + ALS (issue 2)
EVALUATE_GOAL_S = 600.0  # 5-fold evaluation (issue 3)


def run_benchmark(config: BuildConfig, with_evaluate: bool = False) -> int:
    """Build into a temporary folder, print per-stage seconds and the goals they answer to."""
    console = Console()
    with tempfile.TemporaryDirectory(prefix="offline-bench-") as tmp:
        cfg = dataclasses.replace(config, out_dir=Path(tmp) / "trained_data")
        started = time.perf_counter()
        runs, _ = run_stages(cfg, BUILD_STAGES)
        build_wall = time.perf_counter() - started
        eval_runs, eval_wall = [], None
        if with_evaluate:
            started = time.perf_counter()
            eval_runs, _ = run_stages(cfg, ["evaluate"])
            eval_wall = time.perf_counter() - started
    table = Table(title=f"offline benchmark on {config.data_dir.name} ({os.cpu_count()} cores)")
    for col in ("stage", "rows", "seconds"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for run in runs + eval_runs:
        table.add_row(run.name, f"{run.rows:,}", f"{run.seconds:.1f}")
    console.print(table)
    spark_part = sum(r.seconds for r in runs if r.name in ("movies", "popular", "als"))
    console.print(f"whole build wall (load, Spark start, all stages): {build_wall:.1f} s "
                  f"(goal <= {BUILD_GOAL_S:.0f} s)")
    console.print(f"movies + popular + als stages: {spark_part:.1f} s (goal for load + Spark "
                  f"stages <= {SPARK_BUILD_GOAL_S:.0f} s)")
    if eval_wall is not None:
        console.print(f"5-fold evaluation wall: {eval_wall:.1f} s (goal <= {EVALUATE_GOAL_S:.0f} s)")
    return 0
