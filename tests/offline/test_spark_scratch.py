"""A Spark session leaves nothing behind in the temporary folders, whether it is stopped or its
driver is killed: the zip of the `offline` package it ships to the executors lives in Spark's own
scratch folder, which Spark deletes (before, every build left one in /tmp)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVER = """
import os, signal, sys
from pathlib import Path
from offline.config import BuildConfig
from offline.sparkctx import spark_session, stop_spark
import dataclasses
config = dataclasses.replace(BuildConfig(), spark_master="local[1]", work_dir=Path(sys.argv[2]))
spark, _ = spark_session(config)
code = Path(spark.sparkContext._movierec_code)
assert code.is_file(), code
assert spark.sparkContext.parallelize([1, 2], 2).map(lambda x: x + 1).collect() == [2, 3]
print(code, flush=True)
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
stop_spark(spark)
"""


def _drive(end: str, scratch: Path, python_tmp: Path, work: Path) -> Path:
    """Run DRIVER (ending with `end`); the path of the code zip it shipped."""
    env = {**os.environ, "SPARK_LOCAL_DIRS": str(scratch), "TMPDIR": str(python_tmp), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, end, str(work)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == (-signal.SIGKILL if end == "kill" else 0), result.stderr[-2000:]
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("end", ["stop", "kill"])
def test_a_session_leaves_no_files_behind(tmp_path: Path, end: str) -> None:
    scratch, python_tmp, work = tmp_path / "spark-local", tmp_path / "tmp", tmp_path / "work"
    scratch.mkdir()
    python_tmp.mkdir()
    shipped = _drive(end, scratch, python_tmp, work)
    assert shipped.name == "offline.zip" and scratch in shipped.parents
    # inside a folder of the driver's own (the one a later session removes if the driver dies)
    own = shipped.relative_to(scratch).parts[0]
    assert re.fullmatch(r"movierec-spark-\d+-[0-9a-f]+", own), own
    if end == "kill":
        # a killed driver's JVM sees its stdin close, exits, and its shutdown hook deletes
        # Spark's files; its driver's folder is left, and the next session removes it
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and shipped.exists():
            time.sleep(0.5)
        assert not shipped.exists()
        assert [p.name for p in scratch.iterdir()] == [own]
        _drive("stop", scratch, python_tmp, work)
    assert sorted(p.name for p in scratch.iterdir()) == []
    assert sorted(p.name for p in python_tmp.iterdir()) == []


def test_a_killed_drivers_scratch_is_removed_even_if_its_jvm_left_files(tmp_path: Path) -> None:
    """The case the JVM's own clean-up misses (a blockmgr folder left by a build killed at the
    wrong moment): whatever lies in a dead driver's folder goes with it."""
    scratch, python_tmp, work = tmp_path / "spark-local", tmp_path / "tmp", tmp_path / "work"
    code = "import os; print(os.getpid())"
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    left = scratch / f"movierec-spark-{int(dead.stdout)}-0123abcd" / "blockmgr-0"
    left.mkdir(parents=True)
    (left / "block").write_bytes(b"x")
    mine = scratch / f"movierec-spark-{os.getpid()}-0123abcd"  # a live process's: kept
    mine.mkdir()
    other = scratch / "someone-elses"
    other.mkdir()
    python_tmp.mkdir()
    _drive("stop", scratch, python_tmp, work)
    assert sorted(p.name for p in scratch.iterdir()) == sorted([mine.name, other.name])
