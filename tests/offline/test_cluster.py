"""The build on a real Spark standalone cluster (a master and two one-core workers on loopback,
started from the pip pyspark distribution) gives the tables of a local-mode build.

The input is a `file://` URI, so the ratings are read by the executors through Hadoop, and the
small files reach the driver the same way; the offline package is shipped to the executors.
Tables must match the local build: byte for byte where the computation's order is fixed
(ALS uses fixed partitions and blocks; aggregations are exact), and numeric columns within
TOLERANCE otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline.config import PROJECT_ROOT
from offline.data.synth import SynthSize, write_release
from offline.sparkctx import find_java_home

pytestmark = pytest.mark.slow
TOLERANCE = 1e-6  # the tables' own rounding is 6 significant digits


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


class Cluster:
    """A standalone master and workers; each stopped by its own process id."""

    def __init__(self, tmp: Path, workers: int = 2) -> None:
        self.tmp = tmp
        self.port, self.ui = free_port(), free_port()
        self.env = {
            **os.environ,
            "JAVA_HOME": str(find_java_home()),
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOG_DIR": str(tmp / "logs"),
            "SPARK_WORKER_DIR": str(tmp / "work"),
            "PYSPARK_PYTHON": sys.executable,
        }
        self.processes: list[subprocess.Popen] = []
        self.url = f"spark://127.0.0.1:{self.port}"
        self._start(
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--webui-port",
            str(self.ui),
        )
        self._wait(lambda info: info.get("status") == "ALIVE", "the master")
        for _ in range(workers):
            self._start(
                "org.apache.spark.deploy.worker.Worker",
                self.url,
                "--host",
                "127.0.0.1",
                "--cores",
                "1",
                "--memory",
                "2g",
                "--webui-port",
                str(free_port()),
            )
        self._wait(lambda info: info.get("aliveworkers") == workers, f"{workers} workers")

    def _start(self, main_class: str, *args: str) -> None:
        # spark-class execs the JVM, so the process id is the JVM's (which keeps its own copy of
        # the log's file descriptor)
        with open(self.tmp / f"{main_class.rsplit('.', 1)[1]}-{len(self.processes)}.log", "w") as log:
            self.processes.append(
                subprocess.Popen(
                    [str(spark_home() / "bin" / "spark-class"), main_class, *args],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def _wait(self, ready, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.ui}/json/", timeout=2) as r:
                    if ready(json.load(r)):
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{what} did not come up; logs in {self.tmp}")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def build(data: str, out: Path, work: Path, master: str) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "offline",
            "build",
            "--data-dir",
            data,
            "--posters",
            "none",
            "--out-dir",
            str(out),
            "--work-dir",
            str(work),
            "--master",
            master,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, dict, Cluster]:
    tmp = tmp_path_factory.mktemp("cluster")
    release = tmp / "release"
    write_release(release, SynthSize.for_ratings(60_000), seed=5)
    local = build(str(release), tmp / "local", tmp / "work-local", "local[2]")
    cluster = Cluster(tmp)
    try:
        remote = build(f"file://{release}", tmp / "cluster", tmp / "work-cluster", cluster.url)
        yield tmp / "local", tmp / "cluster", local, remote, cluster
    finally:
        cluster.stop()


def test_cluster_build_matches_local_mode(builds) -> None:
    local_dir, cluster_dir, local, remote, _ = builds
    assert set(remote["tables"]) == set(local["tables"])
    identical, close = [], []
    for name, entry in local["tables"].items():
        if remote["tables"][name]["sha256"] == entry["sha256"]:
            identical.append(name)
            continue
        a = pd.read_csv(local_dir / entry["file"])
        b = pd.read_csv(cluster_dir / entry["file"])
        assert list(a.columns) == list(b.columns) and len(a) == len(b), name
        for column in a.columns:
            if pd.api.types.is_float_dtype(a[column]):
                np.testing.assert_allclose(
                    b[column], a[column], atol=TOLERANCE, rtol=0, err_msg=f"{name}.{column}"
                )
            else:
                assert a[column].equals(b[column]), f"{name}.{column}"
        close.append(name)
    # the Spark stages' tables: fixed partitioning and exact sums make them byte-identical
    for name in (
        "movie_stats",
        "popular",
        "als_user_factors",
        "als_item_factors",
        "als_user_top",
        "als_implicit_item_factors",
    ):
        assert name in identical, f"{name} differs beyond bytes ({close})"
    assert remote["metrics"]["als"]["test_rmse"] == local["metrics"]["als"]["test_rmse"]
    assert remote["bad_rows"] == local["bad_rows"]
    assert remote["input"]["rows"] == local["input"]["rows"]


def test_the_executors_did_the_work(builds) -> None:
    """Both workers ran executors for the build (their work folders hold the app's logs)."""
    *_, cluster = builds
    apps = list((cluster.tmp / "work").glob("app-*/*/stderr"))
    assert len({p.parent.name for p in apps}) >= 2, apps
