"""A build's scratch folders in its work folder, named after the process that owns them: its
temporary files (`build_tempdir`) and its Spark checkpoints (`sparkctx.spark_session`). Each
process removes its own when it ends; folders of processes that died (kill -9) are removed by the
next build, so no run leaves files behind for a person to clean up."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from offline.data import storage


def own_name(kind: str) -> str:
    """A new scratch folder name for this process: KIND-PID-RANDOM."""
    return f"{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def remove_stale(work_dir: str | Path, kind: str) -> None:
    """Remove the KIND-PID-* folders whose process is no longer alive (local work folders only)."""
    if storage.is_uri(work_dir):
        return
    for folder in Path(work_dir).glob(f"{kind}-*"):
        match = re.fullmatch(rf"{re.escape(kind)}-(\d+)-[0-9a-f]+", folder.name)
        if match and not alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextlib.contextmanager
def build_tempdir(work_dir: str | Path) -> Iterator[Path | None]:
    """While the block runs, this process's temporary files (Python's tempfile, and TMPDIR for
    the processes it starts: the Spark JVM's start-up handshake, TensorFlow, workers) go to a
    folder of its own in the work folder, removed at the end. Without it, a build killed at the
    wrong moment left pyspark's handshake folder in /tmp. A work folder on cluster storage
    (hdfs://...) keeps the system's temporary folder (None)."""
    if storage.is_uri(work_dir):
        yield None
        return
    remove_stale(work_dir, "tmp")
    folder = Path(work_dir) / own_name("tmp")
    folder.mkdir(parents=True)
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(folder), str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(folder, ignore_errors=True)
