"""Shared fixtures: one Spark session for the whole test run (JVM start costs seconds)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from offline.config import BuildConfig  # noqa: E402


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """A local Spark session shared by every test that needs one."""
    from offline.sparkctx import spark_session

    work = tmp_path_factory.mktemp("spark-work")
    session, _ = spark_session(dataclasses.replace(BuildConfig(), spark_master="local[2]", work_dir=work))
    yield session
    session.stop()


@pytest.fixture
def config(tmp_path: Path) -> BuildConfig:
    """The default configuration writing into a temporary folder."""
    return dataclasses.replace(
        BuildConfig(), out_dir=tmp_path / "trained_data", work_dir=tmp_path / "work", spark_master="local[2]"
    )


# Visitors' feedback goes to a throwaway database in every test (and every app server a test
# starts inherits it), never to the project's var/movierec.sqlite3.
import atexit  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

if "MOVIEREC_DATABASE_PATH" not in os.environ:
    _feedback_dir = tempfile.mkdtemp(prefix="movierec-tests-")
    atexit.register(shutil.rmtree, _feedback_dir, ignore_errors=True)  # not left in /tmp after the run
    os.environ["MOVIEREC_DATABASE_PATH"] = os.path.join(_feedback_dir, "feedback.sqlite3")
