"""The app under gunicorn, as the run command serves it: start-up, one log line per request,
SIGHUP reload of a new build, never going back to an older build, and a one-line refusal to
start on broken trained data."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BUILD_ID, make_tables, write_trained_data

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "webapp" / "gunicorn_conf.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(directory: Path, port: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MOVIEREC_TRAINED_DATA": str(directory),
        "MOVIEREC_PORT": str(port),
        "MOVIEREC_WORKERS": "2",
        "MOVIEREC_SECRET_KEY": "test",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def _gunicorn(directory: Path, port: int, log: Path, **extra: str) -> subprocess.Popen:
    return _serve("webapp:create_app()", _env(directory, port, **extra), log)


def _serve(app: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """gunicorn with the project's settings, its output into log (the child keeps its own copy
    of the file descriptor, so ours is closed at once)."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(CONF), app],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait(condition, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("timed out")


def _stop(proc: subprocess.Popen, log: Path) -> None:
    """SIGTERM, and the server gone within gunicorn's graceful timeout plus some slack."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(40)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise AssertionError(
            "gunicorn did not stop on SIGTERM; its log ends:\n" + log.read_text()[-3000:]
        ) from None


@pytest.fixture
def served(trained_copy: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen, Path, Path]]:
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    proc = _gunicorn(trained_copy, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _get(base + "/healthz")[0] == 200)
        yield base, proc, trained_copy, log
    finally:
        _stop(proc, log)


def test_serves_pages_and_logs_one_line_per_request(served) -> None:
    base, _, _, log = served
    assert json.loads(_get(base + "/healthz")[1])["build_id"] == BUILD_ID
    marker = "/recommendations?movie_ids=1&movie_ids=5&movie_ids=20"
    status, body = _get(base + marker)
    assert status == 200 and b"result-card" in body
    assert _get(base + "/recommendations?movie_ids=abc")[0] == 400
    time.sleep(0.3)
    lines = log.read_text().splitlines()
    assert sum(marker in line for line in lines) == 1
    assert any(re.search(r'"GET /recommendations\?movie_ids=abc HTTP/1.1" 400 \d+ \d+ms', ln) for ln in lines)


def test_sighup_loads_a_new_build(served) -> None:
    base, proc, directory, log = served
    tables = make_tables()
    tables["movies"].loc[0, "title"] = "Reloaded Title"
    write_trained_data(directory, tables, build_id="after-sighup")
    before = _workers(proc.pid)
    proc.send_signal(signal.SIGHUP)
    _wait(lambda: "trained data after-sighup loaded" in log.read_text())
    # the old workers finish their requests before they go: ask once only the new ones answer
    _wait(lambda: (now := _workers(proc.pid)) and not now & before)
    for _ in range(4):
        assert json.loads(_get(base + "/healthz")[1])["build_id"] == "after-sighup"
        assert b"Reloaded Title" in _get(base + "/api/movies/1")[1]


def test_new_manifest_is_picked_up_without_a_signal(served) -> None:
    base, _, directory, _ = served
    write_trained_data(directory, make_tables(), build_id="by-manifest")
    # every worker notices within about a second; ask a few times so both workers answer
    _wait(lambda: all(json.loads(_get(base + "/healthz")[1])["build_id"] == "by-manifest" for _ in range(6)))


def _workers(master: int) -> set[int]:
    """The pids of the master's worker processes."""
    return set(map(int, Path(f"/proc/{master}/task/{master}/children").read_text().split()))


def _publish(directory: Path, build_id: str, *, broken: bool = False) -> None:
    """Publish a build as `make build` does: written beside the folder, swapped in whole, the old
    folder deleted, so the previous build's files are gone from disk. A broken build has a table
    that does not match its sha256 in the manifest."""
    tables = make_tables()
    tables["movies"].loc[0, "title"] = f"Title of {build_id}"
    staging = write_trained_data(directory.with_name(f"{directory.name}.staging"), tables, build_id)
    if broken:
        with (staging / "knn_neighbors.csv").open("a") as handle:
            handle.write("1,2,0.5,99,cf\n")
    old = directory.with_name(f"{directory.name}.old")
    os.rename(directory, old)
    os.rename(staging, directory)
    shutil.rmtree(old)


def _health(base: str) -> dict:
    return json.loads(_get(base + "/healthz")[1])


def test_a_broken_build_and_sighup_never_take_the_site_back_to_an_older_build(
    trained_copy: Path, tmp_path: Path
) -> None:
    """A is served; B is published (the workers load it themselves); a broken C is published and
    the master gets SIGHUP. The new workers, and one forked later after a worker died, must serve
    B, the newest good build, although only memory still holds it, and /healthz must say that C
    was refused and why."""
    port, log = _free_port(), tmp_path / "gunicorn.log"
    # one worker, so every request below reaches the newest one
    proc = _gunicorn(trained_copy, port, log, MOVIEREC_WORKERS="1", MOVIEREC_RELOAD_INTERVAL="0.2")
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _get(base + "/healthz")[0] == 200)
        assert _health(base)["build_id"] == BUILD_ID  # A
        _publish(trained_copy, "build-b")
        _wait(lambda: _health(base)["build_id"] == "build-b")
        # give the master as long to notice B as the worker took (it logs with its pid)
        try:
            _wait(lambda: f"[{proc.pid}] [INFO] loaded trained data build-b" in log.read_text(), 10)
        except AssertionError:
            pass  # the checks below say what is served
        _publish(trained_copy, "build-c", broken=True)
        before = _workers(proc.pid)
        proc.send_signal(signal.SIGHUP)
        _wait(lambda: (now := _workers(proc.pid)) and not now & before)
        health = _health(base)
        assert health["build_id"] == "build-b", "a worker forked after SIGHUP went back to an older build"
        assert b"Title of build-b" in _get(base + "/api/movies/1")[1]
        refused = health["refused"]
        assert refused["build_id"] == "build-c"
        assert "knn_neighbors" in refused["reason"] and "sha256" in refused["reason"]
        assert "\n" not in refused["reason"] and str(trained_copy) not in refused["reason"]
        assert refused["since"].endswith("+00:00")

        # a worker that dies (a timeout, a crash) is replaced by a fresh fork of the master
        (worker,) = _workers(proc.pid)
        os.kill(worker, signal.SIGKILL)
        _wait(lambda: (now := _workers(proc.pid)) and worker not in now)
        assert _health(base)["build_id"] == "build-b", (
            "a worker forked after a crash went back to an older build"
        )
        assert _health(base)["refused"]["build_id"] == "build-c"
        assert proc.poll() is None
    finally:
        _stop(proc, log)


def test_the_settings_serve_an_app_without_trained_data(trained_copy: Path, tmp_path: Path) -> None:
    """The load test serves benchmarks/hello_app.py with the same settings: the reload hooks
    must leave an app without a store alone (an exception in a master hook stops gunicorn)."""
    port, log = _free_port(), tmp_path / "hello.log"
    proc = _serve("benchmarks.hello_app:app", _env(trained_copy, port), log)
    try:
        _wait(lambda: _get(f"http://127.0.0.1:{port}/")[0] == 200)
        proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert _get(f"http://127.0.0.1:{port}/")[0] == 200 and proc.poll() is None
        assert "Traceback" not in log.read_text()
    finally:
        _stop(proc, log)


@pytest.mark.parametrize("breakage", ["missing", "corrupt"])
def test_refuses_to_start_with_one_line(trained_copy: Path, tmp_path: Path, breakage: str) -> None:
    if breakage == "missing":
        (trained_copy / "manifest.json").unlink()
    else:
        with (trained_copy / "knn_neighbors.csv").open("a") as handle:
            handle.write("1,2,0.5,99,cf\n")
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(CONF), "webapp:create_app()"],
        cwd=ROOT,
        env=_env(trained_copy, _free_port()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    errors = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1
    assert "make build" in errors[0] and str(trained_copy) in errors[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "text"),
    [
        ("MOVIEREC_WORKERS", "0"),  # gunicorn would start with no worker, and never answer
        ("MOVIEREC_WORKERS", "two"),
        ("MOVIEREC_THREADS", "-2"),
        ("MOVIEREC_LOG_LEVEL", "loud"),  # gunicorn would take it as "info"
        ("MOVIEREC_SECURE_COOKIES", "maybe"),  # the app's settings, refused in the master
        ("MOVIEREC_PORT", "99999"),  # was the socket's OverflowError traceback
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line(trained_copy: Path, variable: str, text: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(CONF), "webapp:create_app()"],
        cwd=ROOT,
        env=_env(trained_copy, _free_port(), **{variable: text}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    errors = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"Error: {variable} must be ")
    assert repr(text) in errors[0]
    assert "Traceback" not in result.stdout + result.stderr
