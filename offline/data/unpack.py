"""The unpacking half of `python -m offline download`: a verified archive unpacked into a hidden
folder beside its destination (member paths and CRCs checked on the way), then renamed into
place only once complete, so a failure never leaves a half-unpacked data set.

The flow as a whole is in offline/data/download.py; the network half in offline/data/fetch.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from rich.progress import Progress

from offline.data.fetch import CHUNK, DownloadError, check_free_space, is_disk_full, megabytes, reason_of

REQUIRED_FILES = ("ratings.csv", "movies.csv", "links.csv", "tags.csv")  # what a build reads
STAGING_SUFFIX = ".unpacking"  # hidden data/.NAME.*.unpacking folders, renamed when complete


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
