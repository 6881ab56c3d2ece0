"""`python -m offline download`: against a local HTTP server that serves a small release zip.

No test reaches GroupLens: the server runs on 127.0.0.1 in a thread and serves a zip built here
from a few rows of the bundled data/ml-latest-small, in the layout of a GroupLens release.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console

from offline.config import PROJECT_ROOT
from offline.data import download as dl
from offline.data import fetch as fetching
from offline.data import unpack as unpacking
from offline.data.download import DownloadError, download_release

NAME = "ml-32m"
BUNDLED = PROJECT_ROOT / "data" / "ml-latest-small"


def release_files(rows: int = 400) -> dict[str, bytes]:
    """A few-row release in GroupLens' layout: NAME/ratings.csv, ... keyed by member name."""
    files = {}
    for csv in ("ratings.csv", "movies.csv", "links.csv", "tags.csv"):
        lines = (BUNDLED / csv).read_bytes().splitlines(keepends=True)
        files[f"{NAME}/{csv}"] = b"".join(lines[:rows])
    files[f"{NAME}/README.txt"] = (BUNDLED / "README.txt").read_bytes()
    files[f"{NAME}/checksums.txt"] = "".join(
        f"{hashlib.md5(data).hexdigest()}  {member.split('/')[1]}\n" for member, data in sorted(files.items())
    ).encode()
    return files


def make_zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr(f"{NAME}/", b"")
        for member, data in files.items():
            archive.writestr(member, data)
    return buffer.getvalue()


def md5_file(data: bytes) -> bytes:
    return f"{hashlib.md5(data).hexdigest()}  {NAME}.zip\n".encode()


class Handler(BaseHTTPRequestHandler):
    """GET with `Range: bytes=N-` (206 + Content-Range, 416 past the end); can cut once."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        server: ReleaseServer = self.server  # type: ignore[assignment]
        server.requests.append((self.path, self.headers.get("Range")))
        body = server.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match.group(1)) if match and server.honour_range else 0
        if start >= len(body) and start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", server.content_length or str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if server.cut_after is not None and self.path.endswith(".zip"):
            payload, server.cut_after = payload[: server.cut_after], None  # once
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


class ReleaseServer(ThreadingHTTPServer):
    daemon_threads = True
    files: dict[str, bytes]
    requests: list[tuple[str, str | None]]
    cut_after: int | None = None
    honour_range: bool = True
    content_length: str | None = None  # sent instead of the body's length (a broken server)

    def serve(self, archive: bytes, md5: bytes | None = None) -> None:
        self.files = {f"{NAME}.zip": archive, f"{NAME}.zip.md5": md5 or md5_file(archive)}


Env = namedtuple("Env", "server url root files archive")


@pytest.fixture
def env(tmp_path: Path):
    files = release_files()
    archive = make_zip(files)
    server = ReleaseServer(("127.0.0.1", 0), Handler)
    server.requests = []
    server.serve(archive)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Env(
        server,
        f"http://127.0.0.1:{server.server_address[1]}/datasets/movielens",
        tmp_path / "data",
        files,
        archive,
    )
    server.shutdown()
    server.server_close()


def fetch(env: Env, **kwargs) -> Path:
    console = Console(file=io.StringIO(), force_terminal=True, width=100)  # the bar is drawn
    return download_release(NAME, env.root, base_url=env.url, console=console, **kwargs)


def assert_unpacked(env: Env) -> None:
    dest = env.root / NAME
    on_disk = {p.relative_to(env.root).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert on_disk == env.files


def assert_nothing_left(env: Env) -> None:
    """No data/NAME, no hidden unpack folder, no download, not even an empty downloads folder,
    left in data/."""
    assert [p.relative_to(env.root).as_posix() for p in env.root.rglob("*")] == []


def test_happy_path_unpacks_identical_files_and_removes_the_zip(env: Env) -> None:
    assert fetch(env) == env.root / NAME
    assert_unpacked(env)
    assert os.listdir(env.root) == [NAME]  # the emptied downloads folder is gone too
    assert [path for path, _ in env.server.requests] == [
        f"/datasets/movielens/{NAME}.zip.md5",
        f"/datasets/movielens/{NAME}.zip",
    ]


def test_keep_zip_keeps_the_verified_archive(env: Env) -> None:
    fetch(env, keep_zip=True)
    assert (env.root / ".downloads" / f"{NAME}.zip").read_bytes() == env.archive


def test_progress_without_a_terminal(env: Env) -> None:
    out = io.StringIO()
    download_release(NAME, env.root, base_url=env.url, console=Console(file=out))
    assert_unpacked(env)
    assert out.getvalue().count("\n") == 1 and "MD5" in out.getvalue()  # only the summary line


def test_base_url_from_the_environment(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fetching.BASE_URL_ENV, env.url + "/")
    download_release(NAME, env.root, console=Console(file=io.StringIO()))
    assert_unpacked(env)


def test_a_content_length_of_unicode_digits_is_an_unknown_length(env: Env) -> None:
    """A server sending Content-Length "²" ("²".isdigit() is true, but int("²") raises) must not
    crash the download: the body is read to its end and verified as usual."""
    env.server.content_length = "²"
    fetch(env)
    assert_unpacked(env)


def test_interrupted_download_resumes_with_a_range_request(env: Env) -> None:
    cut = len(env.archive) // 2
    env.server.cut_after = cut
    with pytest.raises(DownloadError, match="broke off.*run the same command again to resume"):
        fetch(env)
    part = env.root / ".downloads" / f"{NAME}.zip.part"
    assert part.read_bytes() == env.archive[:cut]
    assert not (env.root / NAME).exists()
    fetch(env)
    assert env.server.requests[-1] == (f"/datasets/movielens/{NAME}.zip", f"bytes={cut}-")
    assert_unpacked(env)
    assert not part.exists()


def test_ctrl_c_keeps_the_partial_download_for_resuming(env: Env, monkeypatch) -> None:
    real_bar = dl.progress_bar

    class InterruptingProgress:  # Ctrl-C arrives while the zip is being written
        def add_task(self, *args, **kwargs) -> int:
            return 0

        def update(self, task: int, completed: int) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(fetching, "CHUNK", 4096)
    monkeypatch.setattr(dl, "progress_bar", lambda console: contextlib.nullcontext(InterruptingProgress()))
    with pytest.raises(KeyboardInterrupt):
        fetch(env)
    part = env.root / ".downloads" / f"{NAME}.zip.part"
    size = part.stat().st_size
    assert 0 < size < len(env.archive) and part.read_bytes() == env.archive[:size]
    assert "run the same command again to resume" in dl.interrupted_note(env.root, NAME)
    assert sorted(os.listdir(env.root)) == [".downloads"]
    monkeypatch.setattr(dl, "progress_bar", real_bar)
    fetch(env)
    assert env.server.requests[-1][1] == f"bytes={size}-"
    assert_unpacked(env)


def test_server_ignoring_range_restarts_from_zero(env: Env) -> None:
    part = env.root / ".downloads" / f"{NAME}.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes of another copy")
    env.server.honour_range = False  # answers 200 with the whole file
    fetch(env)
    assert env.server.requests[-1][1] == f"bytes={len(b'stale bytes of another copy')}-"
    assert_unpacked(env)


def test_complete_part_gets_416_and_is_verified(env: Env) -> None:
    part = env.root / ".downloads" / f"{NAME}.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(env.archive)
    fetch(env)
    assert env.server.requests[-1][1] == f"bytes={len(env.archive)}-"
    assert_unpacked(env)


def test_checksum_mismatch_is_one_line_and_removes_the_download(env: Env) -> None:
    wrong = hashlib.md5(b"another file").hexdigest()
    env.server.serve(env.archive, md5=f"{wrong}  {NAME}.zip\n".encode())
    with pytest.raises(DownloadError) as info:
        fetch(env)
    message = str(info.value)
    assert "\n" not in message and "checksum mismatch" in message
    assert wrong in message and hashlib.md5(env.archive).hexdigest() in message
    assert_nothing_left(env)


def test_truncated_zip_with_matching_md5(env: Env) -> None:
    truncated = env.archive[: len(env.archive) * 2 // 3]
    env.server.serve(truncated)
    with pytest.raises(DownloadError, match="is not a valid zip archive") as info:
        fetch(env)
    assert "\n" not in str(info.value)
    assert_nothing_left(env)


def test_crc_corrupt_zip_leaves_nothing_unpacked(env: Env) -> None:
    archive = bytearray(make_zip(env.files, zipfile.ZIP_STORED))
    at = archive.index(b"userId,movieId,tag") + 200  # inside tags.csv, not the first member
    archive[at] ^= 0xFF
    env.server.serve(bytes(archive))
    with pytest.raises(DownloadError, match="CRC") as info:
        fetch(env)
    assert "\n" not in str(info.value)
    assert_nothing_left(env)


def test_zip_slip_member_is_rejected(env: Env, tmp_path: Path) -> None:
    evil = make_zip({**env.files, f"{NAME}/../../evil.txt": b"owned"})
    env.server.serve(evil)
    with pytest.raises(DownloadError, match="refusing to unpack '.*evil.txt'"):
        fetch(env)
    assert not (tmp_path / "evil.txt").exists() and not (env.root / "evil.txt").exists()
    assert_nothing_left(env)


def test_archive_without_the_release_files_is_rejected(env: Env) -> None:
    env.server.serve(make_zip({f"{NAME}/README.txt": b"not a release"}))
    with pytest.raises(DownloadError, match=f"lacks {NAME}/ratings.csv"):
        fetch(env)
    assert_nothing_left(env)


def test_already_present_makes_no_request(env: Env) -> None:
    fetch(env)
    env.server.requests.clear()
    out = io.StringIO()
    download_release(NAME, env.root, base_url="http://127.0.0.1:9/unreachable", console=Console(file=out))
    assert env.server.requests == [] and "already holds" in out.getvalue()


def test_force_replaces_only_after_the_new_copy_is_complete(env: Env) -> None:
    fetch(env)
    marker = env.root / NAME / "from-the-old-copy.txt"
    marker.write_text("old")
    env.server.serve(env.archive, md5=md5_file(b"something else"))
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(env, force=True)
    assert marker.exists()  # a failed --force leaves the old copy as it was
    env.server.serve(env.archive[:-100])  # fails while unpacking
    with pytest.raises(DownloadError, match="not a valid zip archive"):
        fetch(env, force=True)
    assert marker.exists()
    env.server.serve(env.archive)
    fetch(env, force=True)
    assert not marker.exists()
    assert_unpacked(env)
    assert os.listdir(env.root) == [NAME]


def test_an_incomplete_folder_of_someone_elses_files_is_replaced_only_with_force(env: Env) -> None:
    """Without --force a folder that was not a complete copy was replaced (and deleted) all the
    same: a data set of one's own named like a release was lost to `make run DATA=...`."""
    dest = env.root / NAME
    dest.mkdir(parents=True)
    (dest / "ratings.csv").write_text("my own ratings\n")
    with pytest.raises(
        DownloadError, match=r"exists but is not a complete .* \(it lacks movies.csv, links.csv, tags.csv\)"
    ):
        fetch(env)
    assert env.server.requests == [] and (dest / "ratings.csv").read_text() == "my own ratings\n"
    fetch(env, force=True)
    assert_unpacked(env)


def test_an_empty_folder_is_filled(env: Env) -> None:
    (env.root / NAME).mkdir(parents=True)
    fetch(env)
    assert_unpacked(env)


def test_missing_release_on_the_server(env: Env) -> None:
    env.server.files = {}
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(env)
    assert_nothing_left(env)  # not even the downloads folder made before asking


def test_an_unreachable_server_leaves_no_folder_behind(env: Env) -> None:
    env.server.shutdown()
    env.server.server_close()
    with pytest.raises(DownloadError, match="cannot reach"):
        fetch(env)
    assert_nothing_left(env)


def test_disk_full_while_writing_is_one_line(env: Env) -> None:
    """A real ENOSPC: the partial download is a symlink to /dev/full."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    part = env.root / ".downloads" / f"{NAME}.zip.part"
    part.parent.mkdir(parents=True)
    part.symlink_to("/dev/full")
    with pytest.raises(DownloadError) as info:
        fetch(env)
    message = str(info.value)
    assert message.startswith("disk full: need 1 MB in ") and str(part.parent) in message
    assert not part.is_symlink() and not part.exists()  # removed, so the next run starts clean
    fetch(env)
    assert_unpacked(env)


def test_disk_full_while_unpacking_keeps_the_verified_zip(env: Env, monkeypatch) -> None:
    real_extract = unpacking.extract

    def extract_until_full(archive, staging, progress, total):
        (staging / "half-written").write_bytes(b"x")
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr(unpacking, "extract", extract_until_full)
    with pytest.raises(DownloadError, match="disk full: need 1 MB in .* to unpack"):
        fetch(env)
    assert os.listdir(env.root) == [".downloads"]  # the unpack folder is gone
    assert os.listdir(env.root / ".downloads") == [f"{NAME}.zip"]
    monkeypatch.setattr(unpacking, "extract", real_extract)
    env.server.requests.clear()
    fetch(env)
    assert [path for path, _ in env.server.requests] == [f"/datasets/movielens/{NAME}.zip.md5"]
    assert_unpacked(env)


def test_not_enough_space_is_checked_before_downloading(env: Env, monkeypatch) -> None:
    usage = shutil.disk_usage("/")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    with pytest.raises(DownloadError, match=r"not enough disk space: need 1 MB in .*, 0.0 MB free"):
        fetch(env)
    assert not (env.root / ".downloads" / f"{NAME}.zip.part").exists()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OFFLINE_TRACEBACK"}
    return subprocess.run(
        [sys.executable, "-m", "offline", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_download_without_spark(env: Env) -> None:
    code = (
        "import sys; from offline.cli import main; rc = main(sys.argv[1:]); "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pyspark', 'tensorflow', 'keras', 'sklearn')); print(rc, heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "download", NAME, "--data-root", str(env.root), "--base-url", env.url],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "0 []", result.stderr
    assert "MD5" in result.stderr and f"into {env.root / NAME}" in result.stderr
    assert_unpacked(env)


def test_cli_checksum_mismatch_prints_one_line(env: Env) -> None:
    env.server.serve(env.archive, md5=md5_file(b"something else"))
    result = run_cli("download", NAME, "--data-root", str(env.root), "--base-url", env.url)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: DownloadError: checksum mismatch")


def test_cli_disk_full_prints_one_line(env: Env) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    part = env.root / ".downloads" / f"{NAME}.zip.part"
    part.parent.mkdir(parents=True)
    part.symlink_to("/dev/full")
    result = run_cli("download", NAME, "--data-root", str(env.root), "--base-url", env.url)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: DownloadError: disk full: need 1 MB in ")
    assert_nothing_left(env)


def test_md5_file_formats() -> None:
    digest = "6b51fb2759a8657d3bfcbfc42b592ada"
    for text in (f"{digest}  ml-25m.zip\n", f"MD5 (ml-25m.zip) = {digest}\n", digest.upper()):
        assert fetching.MD5_PATTERN.search(text).group(0).lower() == digest
