"""Write tables deterministically into a staging folder and swap it into place atomically.

Standard library, numpy and pandas only: the web app's tests may import it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
KEEP_FILES = ("README.md", ".gitignore")  # carried from the old folder: not build output
FLOAT_FORMAT = "%.6g"


class ManifestError(Exception):
    """The trained data does not match its manifest."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_table(frame: pd.DataFrame, path: Path) -> dict[str, Any]:
    """Write one table as CSV (LF, fixed float format) and return its manifest entry."""
    frame.to_csv(path, index=False, lineterminator="\n", float_format=FLOAT_FORMAT, encoding="utf-8")
    return {
        "file": path.name,
        "rows": int(len(frame)),
        "columns": [str(c) for c in frame.columns],
        "sha256": sha256_file(path),
    }


def build_id(tables: dict[str, dict[str, Any]]) -> str:
    """The trained data's version: a hash over the tables' hashes."""
    joined = "\n".join(f"{name}:{entry['sha256']}" for name, entry in sorted(tables.items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of a trained-data folder, or None when there is none."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from exc


def verify_tables(directory: Path) -> dict[str, Any]:
    """Check every table against the manifest (existence, sha256); return the manifest."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest is None:
        raise ManifestError(f"{directory}: no {MANIFEST}")
    for name, entry in manifest["tables"].items():
        path = directory / entry["file"]
        if not path.is_file():
            raise ManifestError(f"{path}: table {name} is missing")
        if sha256_file(path) != entry["sha256"]:
            raise ManifestError(f"{path}: table {name} does not match its sha256 in the manifest")
    return manifest


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return result == 0


class BuildLockedError(RuntimeError):
    """Another build is publishing into the same folder."""


class OutDirError(ValueError):
    """The output path holds something that is not a build (it is never replaced), or holds no
    build for a one-stage rebuild to complete."""


# What a build or a checkout leaves in its folder: tables, the manifest, the report, README.md,
# .gitignore. Anything else means the path is not a build's folder.
BUILD_FILE = re.compile(r"[A-Za-z0-9_.-]+\.(?:csv|json|html|md)|\.gitignore")


def foreign_entries(folder: Path, ours: Callable[[Path], bool]) -> str:
    """The entries of folder that are not ours, the first few named ("a, b, c and 2 more"); ""
    when there are none. Used before replacing a whole folder, so nothing else is lost."""
    others = sorted(p.name for p in folder.iterdir() if not ours(p))
    return ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")


def check_target(target: Path) -> None:
    """Refuse an output path that is not a build's folder, before any work: publishing replaces
    the whole folder and deletes the old one, so a file or a folder of other things there (a
    mistyped --out-dir, the project root) would be lost. New, empty and earlier builds' folders
    pass, and so does one whose manifest is broken or missing (a rebuild is its repair)."""
    target = real_target(target)
    if not target.exists():
        return
    if not target.is_dir():
        raise OutDirError(
            f"{target} is a file, not a folder of tables: pass a folder to --out-dir (a new one is made)"
        )
    named = foreign_entries(target, lambda p: p.is_file() and bool(BUILD_FILE.fullmatch(p.name)))
    if named:
        raise OutDirError(
            f"{target} holds {named}, which no build writes; publishing replaces the whole folder, "
            f"so it is left alone: pass a new or empty folder, or an earlier build's, to --out-dir"
        )


def real_target(target: Path) -> Path:
    """The folder the tables really live in: a symlinked trained_data/ (a common deployment
    pattern: trained_data -> /srv/builds/current) is published behind its link, which stays."""
    target = Path(target)
    return target.resolve() if target.is_symlink() else target.absolute()


@contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Hold `.NAME.lock` beside the target for the whole build: a second build of the same
    folder stops at once with one line, instead of deleting this one's staging folder."""
    target = real_target(target)
    check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.with_name(f".{target.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise BuildLockedError(
                f"another build (pid {holder}) is publishing into {target}; wait for it to finish, or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock; the file stays (it is tiny and hidden)


def swap_into_place(staging: Path, target: Path) -> None:
    """Make `staging` the new `target`; the old target is removed afterwards."""
    target = real_target(target)
    if not staging.is_dir():
        raise FileNotFoundError(f"{staging}: the staging folder is gone; {target} was kept")
    check_target(target)  # again: something else may have been put there during the build
    if not target.exists():
        os.replace(staging, target)
        return
    if _renameat2_exchange(staging, target):
        shutil.rmtree(staging)  # staging now holds the old tables
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)  # fallback: two renames, a microsecond apart
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(old, target)  # put the previous tables back rather than leave none
        raise
    shutil.rmtree(old, ignore_errors=True)


def remove_stale_staging(target: Path) -> None:
    """Remove staging and half-swapped folders that a killed build left behind (call it only
    while holding `build_lock`: then no other build can own them)."""
    target = real_target(target)
    for pattern in (f".{target.name}.staging-*", f".{target.name}.old-*"):
        for path in target.parent.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def staging_dir(target: Path, *, keep_previous: bool) -> Iterator[Path]:
    """A fresh folder beside `target`; on success the caller swaps it in, on failure it goes.

    With `keep_previous`, the previous tables are copied in first (a one-stage rebuild
    replaces only that stage's tables).
    """
    target = real_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target)
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    staging.mkdir()
    try:
        for name in KEEP_FILES:
            if (target / name).is_file():
                shutil.copy2(target / name, staging / name)
        if keep_previous and target.is_dir():
            for path in target.iterdir():
                if path.is_file() and path.name not in KEEP_FILES:
                    shutil.copy2(path, staging / path.name)
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
