"""`python -m offline download NAME`: fetch a MovieLens release from GroupLens into data/NAME.

The flow: read the MD5 that GroupLens publishes beside the archive, download NAME.zip into
data/.downloads/NAME.zip.part (an HTTP Range request resumes a partial download), check the
MD5, then unpack into a hidden folder inside data/ (checking each member's CRC on the way) and
rename that folder to data/NAME only once it is complete. Every failure raises DownloadError
with a one-line message (what, where, what to do) and leaves nothing half-unpacked in data/: a
download that broke off is kept for resuming, one that fails its checks is removed.

The data is GroupLens' and comes under the license in each release's README.txt: it is fetched,
never committed (.gitignore keeps data/ other than the bundled files out of git).

The flow is here; the network half (MD5, resumable download) is offline/data/fetch.py, the
unpacking half (checked members, atomic rename) offline/data/unpack.py.

Standard library and rich only: no Spark, no TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from offline.data.fetch import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DownloadError,
    fetch_archive,
    fetch_md5,
    reason_of,
    size_text,
)
from offline.data.unpack import REQUIRED_FILES, install, remove_stale_staging, unpack

RELEASES = ("ml-latest-small", "ml-25m", "ml-32m", "ml-latest")
DOWNLOADS_DIR = ".downloads"  # inside the data root; git-ignored


def resolve_base_url(override: str | None = None) -> str:
    """--base-url, else $MOVIELENS_BASE_URL, else GroupLens; without a trailing slash."""
    return (override or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")


def is_complete(folder: Path) -> bool:
    """Whether folder holds the files a build reads."""
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def partial_path(data_root: Path, name: str) -> Path:
    """Where an unfinished download is kept for resuming."""
    return data_root / DOWNLOADS_DIR / f"{name}.zip.part"


def archive_path(data_root: Path, name: str) -> Path:
    """Where a verified archive lies until it is unpacked (and after, with --keep-zip)."""
    return data_root / DOWNLOADS_DIR / f"{name}.zip"


def interrupted_note(data_root: Path, name: str) -> str:
    """What an interrupted run left behind, for the line printed on Ctrl-C."""
    part = partial_path(Path(data_root), name)
    archive = archive_path(Path(data_root), name)
    if archive.is_file():
        return (
            f"interrupted; kept the downloaded {archive}: run the same command again to check and unpack it"
        )
    if part.is_file() and part.stat().st_size:
        return (
            f"interrupted; kept the partial download {part} "
            f"({size_text(part.stat().st_size)}): run the same command again "
            "to resume"
        )
    return f"interrupted; nothing was unpacked into {data_root}"


@contextlib.contextmanager
def progress_bar(console: Console) -> Iterator[Progress]:
    """Bytes, speed and time left, on a terminal; transient, so a failure ends with its one
    error line. Without a terminal (a log, CI) nothing is drawn, not even rich's blank line."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    if progress.disable:
        yield progress
        return
    with progress:
        yield progress


def remove_if_empty(folder: Path) -> None:
    """Remove the downloads folder unless it keeps something (a partial download to resume, a
    verified archive): a finished or failed run leaves no empty folder behind."""
    with contextlib.suppress(OSError):  # not empty, or already gone
        folder.rmdir()


def prepare_dirs(data_root: Path) -> None:
    try:
        (data_root / DOWNLOADS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create {data_root / DOWNLOADS_DIR}: {reason_of(exc)}; pass --data-root a writable folder"
        ) from None


def download_release(
    name: str,
    data_root: Path,
    *,
    base_url: str | None = None,
    force: bool = False,
    keep_zip: bool = False,
    console: Console | None = None,
) -> Path:
    """Fetch release name into data_root/name; return that folder.

    An existing complete copy is kept without touching the network unless force is set; with
    force it is replaced only once the new copy is complete.
    """
    if name not in RELEASES:
        raise DownloadError(f"unknown release {name!r}; choose one of {', '.join(RELEASES)}")
    console = console or Console(stderr=True, highlight=False, soft_wrap=True)
    data_root = Path(data_root)
    dest = data_root / name
    if is_complete(dest) and not force:
        console.print(
            f"{dest} already holds {name}; nothing to download (--force fetches it again)",
            markup=False,
            soft_wrap=True,
        )
        return dest
    if not force and (dest.is_symlink() or dest.exists()) and (not dest.is_dir() or any(dest.iterdir())):
        # Not a complete copy, but not empty either: somebody's own files (a data set of their
        # own, a manual unzip). A download replaces the whole folder, so only --force does.
        missing = ", ".join(n for n in REQUIRED_FILES if not (dest / n).is_file())
        raise DownloadError(
            f"{dest} exists but is not a complete {name} (it lacks {missing}), so it is left alone: "
            f"move it away, or pass --force to replace the whole folder once a fresh copy is complete"
        )
    url = f"{resolve_base_url(base_url)}/{name}.zip"
    prepare_dirs(data_root)
    try:
        remove_stale_staging(data_root, name)
        expected = fetch_md5(url + ".md5")
        archive = archive_path(data_root, name)
        started = time.monotonic()
        with progress_bar(console) as progress:
            how = fetch_archive(url, expected, archive, progress)
            size = archive.stat().st_size
            staging, files, unpacked = unpack(archive, name, data_root, progress)
        try:
            install(staging / name, dest, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if keep_zip:
            kept = f"; kept {archive}"
        else:
            archive.unlink(missing_ok=True)
            kept = ""
    finally:
        remove_if_empty(data_root / DOWNLOADS_DIR)
    source = (
        f"reused {archive}"
        if how == "reused"
        else f"downloaded {url} ({size_text(size)}{', ' + how if how else ''})"
    )
    console.print(
        f"{source}, MD5 {expected} ok; unpacked "
        f"{files} files ({size_text(unpacked)}) into {dest} in "
        f"{time.monotonic() - started:.0f} s{kept}",
        markup=False,
        soft_wrap=True,
    )
    return dest
