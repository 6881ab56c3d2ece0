"""The network half of `python -m offline download`: the published MD5, and the archive fetched
into a `.part` file that an HTTP Range request resumes, then checked against that MD5.

Also the pieces both halves share: `DownloadError` (every failure, one line: what, where, what to
do) and the sizes in its messages. The flow as a whole is in offline/data/download.py; the
unpacking half in offline/data/unpack.py. Standard library only (rich's Progress is passed in).
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import math
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from rich.progress import Progress

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"
BASE_URL_ENV = "MOVIELENS_BASE_URL"
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
