"""`python -m offline download NAME`: fetch a MovieLens release from GroupLens into data/NAME.

The flow: read the MD5 that GroupLens publishes beside the archive, download NAME.zip into
data/.downloads/NAME.zip.part (an HTTP Range request resumes a partial download), check the
MD5, then unpack into a hidden folder inside data/ (checking each member's CRC on the way) and
rename that folder to data/NAME only once it is complete. Every failure raises DownloadError
with a one-line message (what, where, what to do) and leaves nothing half-unpacked in data/: a
download that broke off is kept for resuming, one that fails its checks is removed.

The data is GroupLens' and comes under the license in each release's README.txt: it is fetched,
never committed (.gitignore keeps data/ other than the bundled files out of git).

Standard library and rich only: no Spark, no TensorFlow.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import math
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

RELEASES = ("ml-latest-small", "ml-25m", "ml-32m", "ml-latest")
REQUIRED_FILES = ("ratings.csv", "movies.csv", "links.csv", "tags.csv")
DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"
BASE_URL_ENV = "MOVIELENS_BASE_URL"
DOWNLOADS_DIR = ".downloads"  # inside the data root; git-ignored
STAGING_SUFFIX = ".unpacking"  # hidden data/.NAME.*.unpacking folders, renamed when complete
CHUNK = 1 << 20
TIMEOUT_S = 60
USER_AGENT = "movierec-offline-download/1"
MD5_PATTERN = re.compile(r"\b[0-9a-fA-F]{32}\b")
RANGE_PATTERN = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DownloadError(Exception):
    """A download, check or unpack failed; the message is one line: what, where, what to do."""


def resolve_base_url(override: str | None = None) -> str:
    """--base-url, else $MOVIELENS_BASE_URL, else GroupLens; without a trailing slash."""
    return (override or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")


def megabytes(n: int) -> str:
    """A space needed, in whole megabytes (10**6) rounded up: '240 MB'."""
    return f"{math.ceil(n / 1e6):,} MB"


def size_text(n: int) -> str:
    """An amount of data: '0.5 MB', '12.3 MB', '240 MB'."""
    return f"{n / 1e6:,.1f} MB" if n < 100e6 else f"{n / 1e6:,.0f} MB"


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


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in DISK_FULL


def reason_of(exc: BaseException) -> str:
    """A short reason for a failure: 'Connection refused', 'timed out'."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else Exception(str(exc.reason))
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def open_url(url: str, offset: int = 0) -> http.client.HTTPResponse:
    """GET url, from byte offset on when offset > 0."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)


def fetch_md5(url: str) -> str:
    """The hex digest in a published .md5 file ('HEX  NAME.zip' or 'MD5 (NAME.zip) = HEX')."""
    try:
        with open_url(url) as response:
            text = response.read(4096).decode("ascii", "replace")
    except urllib.error.HTTPError as exc:
        raise DownloadError(
            f"cannot get the checksum {url}: HTTP {exc.code} {exc.reason}; check "
            f"the release name and --base-url or ${BASE_URL_ENV}"
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(
            f"cannot reach {url}: {reason_of(exc)}; check the network, or point "
            f"--base-url or ${BASE_URL_ENV} at a mirror"
        ) from None
    match = MD5_PATTERN.search(text)
    if not match:
        raise DownloadError(
            f"{url} holds no MD5 digest (it starts {text[:40].strip()!r}); check "
            f"--base-url or ${BASE_URL_ENV}"
        )
    return match.group(0).lower()


def file_md5(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def check_free_space(directory: Path, needed: int, purpose: str) -> None:
    """Fail before writing when directory's file system has less than needed bytes free."""
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise DownloadError(
            f"not enough disk space: need {megabytes(needed)} in {directory} "
            f"{purpose}, {size_text(free)} free; free some space "
            "or pass --data-root on a larger disk"
        )


def response_span(response: http.client.HTTPResponse, offset: int, part: Path) -> tuple[int, int | None]:
    """Where the response body starts in the file, and the file's size (None when unknown).

    206 continues the part at offset; 200 is the whole file, so the part starts again at 0.
    """
    header = response.headers.get("Content-Length", "")
    length = int(header) if header.isascii() and header.isdigit() else None  # not "²"
    if response.status != 206:
        return 0, length
    content_range = response.headers.get("Content-Range", "").strip()
    match = RANGE_PATTERN.fullmatch(content_range)
    if not match or int(match.group(1)) != offset:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{response.url}: the server resumed at the wrong place (Content-Range "
            f"{content_range!r}, asked for byte {offset}); removed {part}: run the "
            "same command again to download afresh"
        )
    if match.group(3) != "*":
        return offset, int(match.group(3))
    return offset, None if length is None else offset + length


def download(url: str, part: Path, progress: Progress) -> int:
    """Download url into part, resuming from the part's size; return where this attempt began.

    A connection that breaks off keeps the part (the next call resumes it); a full disk
    removes it. 416 to a Range request means the part already holds the whole file.
    """
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = open_url(url, offset)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return offset
        raise DownloadError(
            f"cannot download {url}: HTTP {exc.code} {exc.reason}; check the "
            f"release name and --base-url or ${BASE_URL_ENV}"
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DownloadError(
            f"cannot reach {url}: {reason_of(exc)}; check the network and run the same command again"
        ) from None
    with response:
        start, total = response_span(response, offset, part)
        if total is not None:
            check_free_space(part.parent, total - start, f"for {url.rsplit('/', 1)[-1]}")
        received = copy_body(response, part, start, total, progress)
    if total is not None and received < total:
        raise DownloadError(
            f"the download of {url} broke off at {size_text(received)} of "
            f"{size_text(total)}; kept {part}: run the same command again to "
            "resume"
        )
    return start


def copy_body(
    response: http.client.HTTPResponse, part: Path, start: int, total: int | None, progress: Progress
) -> int:
    """Append the body to part (or write it afresh when start is 0); return the part's size."""
    task = progress.add_task(f"{part.name.removesuffix('.part')}", total=total, completed=start)
    received = start
    try:
        with part.open("ab" if start else "wb") as out:
            while chunk := response.read1(CHUNK):  # what has arrived: a live progress bar
                out.write(chunk)
                received += len(chunk)
                progress.update(task, completed=received)
    except OSError as exc:
        if is_disk_full(exc):
            part.unlink(missing_ok=True)
            needed = total if total is not None else received
            raise DownloadError(
                f"disk full: need {megabytes(needed)} in {part.parent} for "
                f"{part.name.removesuffix('.part')}; removed the partial download: "
                "free some space or pass --data-root on a larger disk"
            ) from None
        raise DownloadError(
            f"the download of {response.url} broke off at "
            f"{size_text(received)} ({reason_of(exc)}); kept {part}: run "
            "the same command again to resume"
        ) from None
    except http.client.HTTPException as exc:
        raise DownloadError(
            f"the download of {response.url} broke off at "
            f"{size_text(received)} ({type(exc).__name__}); kept {part}: "
            "run the same command again to resume"
        ) from None
    return received


def fetch_archive(url: str, expected_md5: str, archive: Path, progress: Progress) -> str:
    """Leave the archive, its MD5 checked, at archive; return a note on how it got there
    ('' for a plain download, 'resumed at 120.0 MB', or 'reused' for a verified zip there)."""
    if archive.is_file():  # kept by --keep-zip, or left by an unpack that ran out of space
        if file_md5(archive) == expected_md5:
            return "reused"
        archive.unlink()
    part = archive.with_name(archive.name + ".part")
    began = download(url, part, progress)
    actual = file_md5(part)
    if actual != expected_md5:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"checksum mismatch for {url}: expected MD5 {expected_md5} (published "
            f"in {url}.md5), got {actual}; removed the download: run the same "
            "command again, and if it fails again the file or mirror is bad"
        )
    os.replace(part, archive)
    return f"resumed at {size_text(began)}" if began else ""


def check_members(members: list[zipfile.ZipInfo], name: str, archive: Path) -> None:
    """Every member inside NAME/ (no absolute or '..' paths), and the files a build reads."""
    for info in members:
        path = PurePosixPath(info.filename)
        if (
            info.filename.startswith("/")
            or "\\" in info.filename
            or ".." in path.parts
            or not path.parts
            or path.parts[0] != name
        ):
            raise DownloadError(
                f"{archive}: refusing to unpack {info.filename!r}, which is not "
                f"inside {name}/; removed the archive: check --base-url, it does "
                f"not serve the GroupLens release"
            )
    present = {info.filename for info in members}
    missing = [f for f in REQUIRED_FILES if f"{name}/{f}" not in present]
    if missing:
        raise DownloadError(
            f"{archive} lacks {', '.join(f'{name}/{f}' for f in missing)}; removed "
            f"the archive: check --base-url, it does not serve the GroupLens "
            "release"
        )


def extract(archive: zipfile.ZipFile, staging: Path, progress: Progress, total: int) -> int:
    """Write every member under staging, checking CRCs as it reads; return the file count."""
    task = progress.add_task("unpacking", total=total)
    done = files = 0
    for info in archive.infolist():
        target = staging.joinpath(*PurePosixPath(info.filename).parts)
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as source, target.open("wb") as out:
            while chunk := source.read(CHUNK):  # raises BadZipFile at the end on a CRC error
                out.write(chunk)
                done += len(chunk)
                progress.update(task, completed=done)
        files += 1
    return files


def corrupt_archive(archive_path: Path, exc: BaseException) -> DownloadError:
    """Remove an archive that matched its MD5 but does not unpack; the error to raise."""
    archive_path.unlink(missing_ok=True)
    return DownloadError(
        f"{archive_path} is not a valid zip archive ({exc}) although its MD5 "
        "matches the published one; removed it: run the same command again to "
        "download it afresh"
    )


def unpack(archive_path: Path, name: str, data_root: Path, progress: Progress) -> tuple[Path, int, int]:
    """Unpack into a hidden folder in data_root; return (folder holding NAME/, files, bytes).

    A corrupt or foreign archive is removed; one that does not fit on the disk is kept (it is
    verified) for the next run. Either way no partly unpacked folder is left.
    """
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise corrupt_archive(archive_path, exc) from None
    with archive:
        members = archive.infolist()
        try:
            check_members(members, name, archive_path)
        except DownloadError:
            archive_path.unlink(missing_ok=True)
            raise
        needed = sum(info.file_size for info in members)
        check_free_space(data_root, needed, f"to unpack {name}")
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=STAGING_SUFFIX, dir=data_root))
        try:
            files = extract(archive, staging, progress, needed)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError)):
                raise corrupt_archive(archive_path, exc) from None
            if isinstance(exc, OSError) and is_disk_full(exc):
                raise DownloadError(
                    f"disk full: need {megabytes(needed)} in {data_root} to unpack "
                    f"{name}; removed the partly unpacked files and kept the "
                    f"verified {archive_path}: free some space and run the same "
                    "command again"
                ) from None
            if isinstance(exc, OSError):
                raise DownloadError(
                    f"cannot unpack {name} into {data_root}: {reason_of(exc)}; "
                    "removed the partly unpacked files"
                ) from None
            raise
    return staging, files, needed


def install(new: Path, dest: Path, staging: Path) -> None:
    """Rename new to dest. An existing dest is moved into staging (removed by the caller) only
    now, when the new copy is complete; should the second rename fail, it is put back."""
    previous = staging / "previous"
    had_previous = dest.exists() or dest.is_symlink()
    if had_previous:
        os.replace(dest, previous)
    try:
        os.replace(new, dest)
    except OSError as exc:
        if had_previous:
            os.replace(previous, dest)
        raise DownloadError(f"cannot move the unpacked {new.name} to {dest}: {reason_of(exc)}") from None


def remove_stale_staging(data_root: Path, name: str) -> None:
    """Remove unpack folders that a killed run (kill -9, power loss) left behind."""
    for folder in data_root.glob(f".{name}.*{STAGING_SUFFIX}"):
        shutil.rmtree(folder, ignore_errors=True)


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
