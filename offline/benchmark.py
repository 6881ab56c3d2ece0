"""`python -m offline benchmark`: wall time and peak memory of each stage, at several data sizes.

    python -m offline benchmark                      # the bundled data (and --with-evaluate)
    python -m offline benchmark --synth 1M,5M,25M    # seeded synthetic releases of those sizes

Each build runs as its own process (`python -m offline build` into a throwaway folder) while this
one samples the memory of its whole process tree every second: the Python driver, the JVM
that Spark starts, and the worker processes (Spark's Python workers, kNN's forked blocks). It
reports the proportional set size (PSS: pages shared between processes, such as forked copies,
count once) and the build writes an event line at each stage boundary, so each stage gets its own
wall time and peak. Synthetic releases are generated once into the work folder and reused.

Figures, not assertions: the machine is shared and noisy, so the large sizes are run by hand
(never in CI) and compared in the same run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from offline.config import PROJECT_ROOT, BuildConfig

BUILD_GOAL_S = 120.0  # whole build on ml-latest-small, this 2-core machine (issues 2 and 3)
FULL_GOAL_S = 45 * 60.0  # whole build at 25 million ratings (issue 7)
FULL_GOAL_GB = 12.0
EVENTS_ENV = "MOVIEREC_EVENTS"  # build.run_stages appends a JSON line per stage boundary here


@dataclass
class Run:
    """One build measured: per-stage seconds and peak memory, and the whole."""

    label: str
    ratings: int
    seconds: dict[str, float] = field(default_factory=dict)
    peak_gb: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    peak_total_gb: float = 0.0
    ok: bool = True
    error: str = ""
    details: dict[str, float] = field(default_factory=dict)  # from the manifest's metrics


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class MemorySampler:
    """Samples the PSS of a process tree every `interval` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = sum(pss_bytes(p) for p in process_tree(self.pid))
            self.samples.append((time.time(), total))
            self._stop.wait(self.interval)


def measure_build(
    config: BuildConfig,
    data_dir: Path,
    label: str,
    ratings: int,
    console: Console,
    stages: list[str] | None = None,
    keep: Path | None = None,
) -> Run:
    """Build `data_dir` in a child process; per-stage seconds and peak PSS. With `keep`, the
    built tables are moved there (e.g. to serve them in a web benchmark)."""
    run = Run(label, ratings)
    with tempfile.TemporaryDirectory(prefix="offline-bench-") as tmp:
        events = Path(tmp) / "events.jsonl"
        # a fresh work folder: the ratings conversion is measured, not reused from a cache
        command = [
            sys.executable,
            "-m",
            "offline",
            stages[0] if stages else "build",
            "--data-dir",
            str(data_dir),
            "--out-dir",
            str(Path(tmp) / "trained_data"),
            "--work-dir",
            str(Path(tmp) / "work"),
            "--seed",
            str(config.seed),
            "--posters",
            str(config.posters_path) if config.posters_path else "none",
        ]
        env = {**os.environ, EVENTS_ENV: str(events)}
        started = time.time()
        with open(Path(tmp) / "log.txt", "w") as log:
            process = subprocess.Popen(
                command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            with MemorySampler(process.pid) as sampler:
                shown = 0
                while process.poll() is None:
                    time.sleep(1.0)
                    boundaries = read_events(events)
                    for name, at in boundaries[shown:]:
                        console.print(f"  {time.strftime('%H:%M:%S', time.localtime(at))} {label}: {name}")
                    shown = len(boundaries)
        run.wall = time.time() - started
        if process.returncode != 0:
            run.ok = False
            lines = (Path(tmp) / "log.txt").read_text(errors="replace").strip().splitlines()
            run.error = next(
                (x for x in reversed(lines) if "error" in x.lower()), lines[-1] if lines else "failed"
            )
        boundaries = read_events(events)
        manifest = Path(tmp) / "trained_data" / "manifest.json"
        if manifest.is_file():
            run.details = stage_details(json.loads(manifest.read_text()))
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                target = keep / f"trained_data-{ratings}"
                shutil.rmtree(target, ignore_errors=True)
                shutil.move(str(manifest.parent), target)
                console.print(f"  kept the tables in {target}")
    assign(run, boundaries, sampler.samples, started)
    return run


def stage_details(manifest: dict) -> dict[str, float]:
    """The parts of the long stages, as their metrics record them."""
    metrics = manifest.get("metrics", {})
    neumf, knn = metrics.get("neumf", {}), metrics.get("knn", {})
    picked = {
        "neumf candidates s": neumf.get("candidate_seconds"),
        "neumf training s": neumf.get("train_seconds"),
        "neumf train examples": neumf.get("train_examples"),
        "knn movies (cf)": knn.get("movies_cf"),
        "ease movies": metrics.get("ease", {}).get("movies"),
        **{f"als {k} s": v for k, v in metrics.get("als", {}).get("seconds", {}).items()},
    }
    return {k: v for k, v in picked.items() if v is not None}


def read_events(path: Path) -> list[tuple[str, float]]:
    """(stage name, start time) in order, then ("end", time)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        out.append((event["stage"], float(event["time"])))
    return out


def assign(
    run: Run, boundaries: list[tuple[str, float]], samples: list[tuple[float, int]], started: float
) -> None:
    """Per stage: seconds between its boundaries and the peak of the samples inside them."""
    marks = [("start-up", started), *boundaries]
    for (name, t0), (_, t1) in zip(marks, marks[1:]):
        inside = [b for t, b in samples if t0 <= t <= t1]
        run.seconds[name] = round(run.seconds.get(name, 0.0) + t1 - t0, 1)
        run.peak_gb[name] = round(max([run.peak_gb.get(name, 0.0)] + [b / 2**30 for b in inside]), 2)
    run.peak_total_gb = round(max([b for _, b in samples], default=0) / 2**30, 2)


def synthetic_release(config: BuildConfig, ratings: int, console: Console) -> Path:
    """A synthetic release of `ratings` ratings, generated once into the work folder."""
    from offline.data.synth import SynthSize, write_release

    folder = Path(config.work_dir) / "synth" / f"ratings-{ratings}-seed-{config.seed}"
    if not (folder / "README.txt").is_file():  # written last: the release is complete
        console.print(f"generating {ratings:,} synthetic ratings into {folder}")
        write_release(folder, SynthSize.for_ratings(ratings), config.seed)
    return folder


def run_benchmark(
    config: BuildConfig, with_evaluate: bool = False, synth: list[int] | None = None, keep: Path | None = None
) -> int:
    """Measure the build at each size; print per-stage seconds and peak memory."""
    console = Console()
    runs = []
    if synth:
        cfg = dataclasses.replace(config, posters_path=None)
        for n in synth:
            data = synthetic_release(cfg, n, console)
            console.print(f"building {n:,} ratings ...")
            runs.append(measure_build(cfg, data, f"synthetic {human(n)}", n, console, keep=keep))
            print_run(console, runs[-1])
    else:
        runs.append(measure_build(config, Path(config.data_dir), Path(config.data_dir).name, 0, console))
        print_run(console, runs[-1])
        if with_evaluate:
            runs.append(evaluate_run(config, console))
            print_run(console, runs[-1])
    print_summary(console, runs, config)
    return 0 if all(r.ok for r in runs) else 1


def evaluate_run(config: BuildConfig, console: Console) -> Run:
    """The evaluation's wall time and peak memory (into a throwaway folder, after a build)."""
    with tempfile.TemporaryDirectory(prefix="offline-bench-eval-") as tmp:
        out = Path(tmp) / "trained_data"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "offline",
                "build",
                "--data-dir",
                str(config.data_dir),
                "--out-dir",
                str(out),
                "--work-dir",
                str(config.work_dir),
            ],
            cwd=PROJECT_ROOT,
            check=True,
            capture_output=True,
        )
        cfg = dataclasses.replace(config, out_dir=out)
        return measure_build(cfg, Path(config.data_dir), "evaluate", 0, console, stages=["evaluate"])


def human(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def print_run(console: Console, run: Run) -> None:
    table = Table(
        title=f"{run.label}: {run.wall:.0f} s wall, peak {run.peak_total_gb:.2f} GB"
        + ("" if run.ok else f" - FAILED: {run.error}")
    )
    for col in ("stage", "seconds", "peak GB"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for name, seconds in run.seconds.items():
        table.add_row(name, f"{seconds:.1f}", f"{run.peak_gb.get(name, 0):.2f}")
    console.print(table)
    if run.details:
        console.print("  " + ", ".join(f"{k}: {v:,}" for k, v in run.details.items()))


def print_summary(console: Console, runs: list[Run], config: BuildConfig) -> None:
    """Goals, and each stage's growth between the two largest sizes."""
    sized = [r for r in runs if r.ratings]
    if not sized:
        wall = runs[0].wall
        console.print(
            f"whole build wall: {wall:.1f} s (goal <= {BUILD_GOAL_S:.0f} s on ml-latest-small, 2 cores)"
        )
        return
    if len(sized) >= 2:
        a, b = sized[-2], sized[-1]
        growth = Table(
            title=f"growth from {human(a.ratings)} to {human(b.ratings)} "
            f"(x{b.ratings / a.ratings:g} ratings; linear = 1.00)"
        )
        for col in ("stage", "time ratio / data ratio"):
            growth.add_column(col, justify="left" if col == "stage" else "right")
        for name in b.seconds:
            if a.seconds.get(name):
                growth.add_row(name, f"{b.seconds[name] / a.seconds[name] / (b.ratings / a.ratings):.2f}")
        console.print(growth)
    for run in sized:
        if run.ratings >= 25_000_000:
            console.print(
                f"{human(run.ratings)}: {run.wall / 60:.1f} min (goal <= "
                f"{FULL_GOAL_S / 60:.0f}), peak {run.peak_total_gb:.1f} GB (goal <= "
                f"{FULL_GOAL_GB:.0f})"
            )
