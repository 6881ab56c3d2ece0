"""offline/scratch.py: a run's temporary files live in its work folder and go when it ends; the
scratch folders of processes that died are removed by the next run, a live one's never."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from offline.scratch import build_tempdir, own_name, remove_stale


def test_temporary_files_go_to_the_work_folder_and_are_removed(tmp_path: Path) -> None:
    before_env, before_dir = os.environ.get("TMPDIR"), tempfile.gettempdir()
    with build_tempdir(tmp_path / "work") as folder:
        assert folder is not None and folder.parent == tmp_path / "work"
        assert folder.name.startswith(f"tmp-{os.getpid()}-")
        made = Path(tempfile.mkdtemp())
        assert made.parent == folder
        child = subprocess.run(
            [sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert child.stdout.strip() == str(folder)  # processes it starts inherit TMPDIR
    assert not folder.exists() and not made.exists()
    assert os.environ.get("TMPDIR") == before_env and tempfile.gettempdir() == before_dir


def test_a_work_folder_on_cluster_storage_keeps_the_system_folder() -> None:
    before = tempfile.gettempdir()
    with build_tempdir("hdfs://namenode/tmp/movierec") as folder:
        assert folder is None and tempfile.gettempdir() == before


def test_dead_processes_folders_are_removed_live_ones_kept(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = tmp_path / f"tmp-{finished.stdout.strip()}-0a1b2c3d"
    live = tmp_path / own_name("tmp")
    other_kind = tmp_path / f"checkpoints-{finished.stdout.strip()}-0a1b2c3d"
    not_ours = tmp_path / "tmp-notes"
    for folder in (dead, live, other_kind, not_ours):
        (folder / "inside").mkdir(parents=True)
    remove_stale(tmp_path, "tmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other_kind.name, not_ours.name])
