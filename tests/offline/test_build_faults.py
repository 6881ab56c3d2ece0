"""kill -9 at random moments: trained_data/ is always exactly one complete build, old or new."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from offline import publish
from offline.config import PROJECT_ROOT
from offline.data.synth import SynthSize, write_release

pytestmark = pytest.mark.slow
KILLS = 20


def command(release: Path, out: Path, work: Path, seed: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "offline",
        "build",
        "--data-dir",
        str(release),
        "--posters",
        "none",
        "--out-dir",
        str(out),
        "--work-dir",
        str(work),
        "--seed",
        str(seed),
    ]


def scratch_env(tmp_path: Path) -> dict[str, str]:
    """The system's temporary folder and Spark's scratch folder inside tmp_path, to see what the
    builds leave there."""
    folders = {"TMPDIR": tmp_path / "system-tmp", "SPARK_LOCAL_DIRS": tmp_path / "spark-local"}
    for folder in folders.values():
        folder.mkdir(exist_ok=True)
    return {**os.environ, **{name: str(folder) for name, folder in folders.items()}}


def complete_build(release: Path, out: Path, work: Path, seed: int) -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run(
        command(release, out, work, seed),
        cwd=PROJECT_ROOT,
        env=scratch_env(out.parent),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "manifest.json").read_text())["build_id"], time.monotonic() - started


def test_killed_builds_never_leave_a_partial_or_missing_trained_data(tmp_path: Path) -> None:
    release, out, work = tmp_path / "release", tmp_path / "trained_data", tmp_path / "work"
    write_release(release, SynthSize.for_ratings(20_000), seed=2)
    first, seconds = complete_build(release, out, work, seed=1)
    second, _ = complete_build(release, out, work, seed=2)
    assert first != second
    known = {first, second}
    rng = random.Random(7)
    killed_early = killed_late = 0
    for _ in range(KILLS):
        process = subprocess.Popen(
            command(release, out, work, rng.choice([1, 2])),
            cwd=PROJECT_ROOT,
            env=scratch_env(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        delay = rng.uniform(0.0, seconds)
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed_early += delay < seconds / 2
            killed_late += delay >= seconds / 2
        process.wait()
        manifest = publish.verify_tables(out)  # complete: every table matches the manifest
        assert manifest["build_id"] in known
        assert {p.name for p in out.iterdir()} == {
            "manifest.json",
            *(e["file"] for e in manifest["tables"].values()),
        }
    assert killed_early and killed_late  # the kills spread over the build
    # the next build cleans up whatever the killed ones left beside trained_data/
    complete_build(release, out, work, seed=1)
    leftovers = sorted(p.name for p in tmp_path.glob(".trained_data.*"))
    assert leftovers == [".trained_data.lock"]
    assert not list(work.glob("checkpoints-*"))  # killed builds' checkpoint folders too
    assert not list(work.glob("tmp-*"))  # and their temporary files
    # nothing in the system's temporary folder (pyspark's start-up handshake, TensorFlow's
    # autograph sources, the code zip were left there by killed builds), nor in Spark's scratch
    # folder once the killed builds' JVMs have exited
    assert sorted(p.name for p in (tmp_path / "system-tmp").iterdir()) == []
    deadline = time.monotonic() + 60
    while any((tmp_path / "spark-local").iterdir()) and time.monotonic() < deadline:
        time.sleep(1)
    assert sorted(p.name for p in (tmp_path / "spark-local").iterdir()) == []
