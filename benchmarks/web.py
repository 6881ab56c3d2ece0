"""Load test on loopback: wrk against gunicorn, the real app next to a bare Flask "hello" app.

    python benchmarks/web.py [--trained-data trained_data] [--duration 10] [--connections 64]

First the in-process figures of benchmarks/web_calls.py (loading a build, one recommend call,
each next to a baseline). Then starts gunicorn with webapp/gunicorn_conf.py twice (the app, then
benchmarks/hello_app.py with the same settings), runs wrk against

- hello:        GET /                                   (bare Flask, the baseline)
- result page:  GET /recommendations?movie_ids=a&b&c    (one URL: after the first hit, memoised)
- result page, varied picks: a different random triple of catalog movies per request
- API:          POST /api/recommendations               (one body)
- API, varied picks
- insights:     GET /insights                           (rendered once per build, then cached)
- movie page:   GET /movies/<id>                        (one id)
- movie pages, varied ids: a different movie of the build per request (most miss the page cache)
- search as you type:  GET /api/movies?q=...           (the first 1 to 8 letters of a random title)

and prints requests/s, p50/p99 latency, errors and the workers' memory, against the goals:
at least 40% of the hello app's requests/s, p99 at most 50 ms at 64 connections, no errors,
worker memory at most 300 MB. A script, not a test: exit status 0 unless --strict and a goal fails.
Needs `wrk` (apt-get install wrk) and a trained_data/ folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "webapp" / "gunicorn_conf.py"
sys.path.insert(0, str(ROOT))
from webapp.gunicorn_conf import default_workers  # noqa: E402  (the served default, one place)

GOAL_SHARE, GOAL_P99_MS, GOAL_MEMORY_MB = 0.40, 50.0, 300.0

LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class Run:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lua_script(
    path: Path,
    *,
    method: str = "GET",
    urls: list[str] | None = None,
    body: str | None = None,
    bodies: list[str] | None = None,
) -> Path:
    """A wrk script: fixed or rotating request, and a JSON summary line at the end."""
    lines = [f'wrk.method = "{method}"']
    if method == "POST":
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(body)}")
    if urls:
        lines.append("local urls = {" + ",".join(json.dumps(u) for u in urls) + "}")
        lines.append(
            "local n = 0\nrequest = function()\n  n = n + 1\n"
            "  return wrk.format(nil, urls[(n % #urls) + 1])\nend"
        )
    if bodies:
        lines.append("local bodies = {" + ",".join(json.dumps(b) for b in bodies) + "}")
        lines.append(
            "local n = 0\nrequest = function()\n  n = n + 1\n"
            "  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])\nend"
        )
    path.write_text("\n".join(lines) + "\n" + LUA_DONE)
    return path


def run_wrk(name: str, url: str, script: Path, args: argparse.Namespace) -> Run:
    out = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    r = json.loads(line[len("RESULT ") :])
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return Run(name, r["requests"], r["requests"] / r["seconds"], r["p50_ms"], r["p99_ms"], errors)


class Server:
    """gunicorn with webapp/gunicorn_conf.py serving one WSGI app on a free port."""

    def __init__(self, app: str, args: argparse.Namespace, log: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "MOVIEREC_PORT": str(self.port),
            "MOVIEREC_WORKERS": str(args.workers),
            "MOVIEREC_TRAINED_DATA": str(args.trained_data),
            "MOVIEREC_SECRET_KEY": "bench",
            "PYTHONPATH": str(ROOT),
        }
        self.log = log.open("w")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(CONF), app],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()
        self.startup_s = time.perf_counter() - started

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.proc.returncode}; see {self.log.name}")
            try:
                urllib.request.urlopen(self.base + "/", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("gunicorn did not answer in time")

    def worker_memory_mb(self) -> tuple[float, float]:
        """(largest worker RSS, largest worker PSS) in MB; PSS counts pages shared after fork once."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        rss, pss = [], []
        for pid in children:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            fields = {ln.split(":")[0]: int(ln.split()[1]) for ln in rollup[1:] if ln.split()[1].isdigit()}
            rss.append(fields["Rss"] / 1024)
            pss.append(fields["Pss"] / 1024)
        return max(rss), max(pss)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(20)
        self.log.close()


def catalog_ids(base: str) -> list[int]:
    with urllib.request.urlopen(base + "/api/catalog") as response:
        return [m["movie_id"] for m in json.load(response)["movies"]]


def movie_rows(trained_data: Path) -> list[list[str]]:
    """The build's movies.csv rows (movie_id, title, ...), header left out."""
    with (trained_data / "movies.csv").open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        next(rows)
        return list(rows)


def typed_queries(titles: list[str], n: int, rng: random.Random) -> list[str]:
    """What the picker's search as you type sends: the first 1 to 8 letters of a random title."""
    picked = (rng.choice(titles) for _ in range(n))
    return [urllib.parse.quote(t[: rng.randint(1, 8)].strip() or t) for t in picked]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trained-data", type=Path, default=ROOT / "trained_data")
    parser.add_argument("--workers", type=int, default=default_workers(), help="gunicorn_conf's default")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--varied", type=int, default=50_000, help="distinct pick triples")
    parser.add_argument(
        "--varied-movies",
        type=int,
        default=5_000,
        help="distinct movie pages (each worker caches PAGE_CACHE_SIZE pages)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if not (args.trained_data / "manifest.json").exists():
        raise SystemExit(f"no trained data in {args.trained_data}: run `make build` first")

    import web_calls  # benchmarks/ is this script's folder, so first on sys.path

    print("in-process: loading a build and one recommend call")
    calls_ok = web_calls.goals_met(web_calls.measure(args.trained_data))
    print()
    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    print(
        f"gunicorn: {args.workers} sync workers, wrk: {args.threads} threads, "
        f"{args.connections} connections, {args.duration} s per run, {os.cpu_count()} CPUs"
    )

    hello = Server("benchmarks.hello_app:app", args, work / "hello.log")
    try:
        baseline = run_wrk("hello (bare Flask)", hello.base + "/", lua_script(work / "hello.lua"), args)
        hello_rss, hello_pss = hello.worker_memory_mb()
    finally:
        hello.stop()

    app = Server("webapp:create_app()", args, work / "app.log")
    try:
        ids = catalog_ids(app.base)
        rng = random.Random(7)
        triples = [rng.sample(ids, 3) for _ in range(args.varied)]
        movies = movie_rows(args.trained_data)
        every_movie = [int(row[0]) for row in movies]
        varied_movies = rng.sample(every_movie, min(len(every_movie), args.varied_movies))
        page = "/recommendations?" + "&".join(f"movie_ids={m}" for m in ids[:3])
        runs = [
            run_wrk("result page", app.base + page, lua_script(work / "page.lua"), args),
            run_wrk(
                "result page, varied picks",
                app.base + "/",
                lua_script(
                    work / "pages.lua",
                    urls=["/recommendations?" + "&".join(f"movie_ids={m}" for m in t) for t in triples],
                ),
                args,
            ),
            run_wrk(
                "API",
                app.base + "/api/recommendations",
                lua_script(work / "api.lua", method="POST", body=json.dumps({"movie_ids": ids[:3]})),
                args,
            ),
            run_wrk(
                "API, varied picks",
                app.base + "/api/recommendations",
                lua_script(
                    work / "apis.lua",
                    method="POST",
                    bodies=[json.dumps({"movie_ids": t}) for t in triples[: min(len(triples), 20_000)]],
                ),
                args,
            ),
            run_wrk("insights page", app.base + "/insights", lua_script(work / "insights.lua"), args),
            run_wrk("movie page", app.base + f"/movies/{ids[0]}", lua_script(work / "movie.lua"), args),
            run_wrk(
                "movie pages, varied ids",
                app.base + "/",
                lua_script(work / "movies.lua", urls=[f"/movies/{m}" for m in varied_movies]),
                args,
            ),
            run_wrk(
                "search as you type, varied",
                app.base + "/",
                lua_script(
                    work / "search.lua",
                    urls=[
                        f"/api/movies?limit=24&q={q}"
                        for q in typed_queries([row[1] for row in movies], 20_000, rng)
                    ],
                ),
                args,
            ),
        ]
        rss, pss = app.worker_memory_mb()
        startup = app.startup_s
    finally:
        app.stop()

    print(f"\n{'run':28} {'req/s':>9} {'% hello':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  goals missed")
    ok = True
    for run in [baseline] + runs:
        share = run.rps / baseline.rps
        missed = (
            []
            if run is baseline
            else [
                name
                for name, good in (
                    ("req/s", share >= GOAL_SHARE),
                    ("p99", run.p99_ms <= GOAL_P99_MS),
                    ("errors", run.errors == 0),
                )
                if not good
            ]
        )
        ok &= not missed
        print(
            f"{run.name:28} {run.rps:9.0f} {share:8.0%} {run.p50_ms:8.1f} {run.p99_ms:8.1f} "
            f"{run.errors:7d}  {', '.join(missed) or '-'}"
        )
    print(
        f"\nworker memory: app max RSS {rss:.0f} MB (PSS {pss:.0f} MB); "
        f"hello max RSS {hello_rss:.0f} MB (PSS {hello_pss:.0f} MB)"
        f"{'' if rss <= GOAL_MEMORY_MB else '  (over the goal)'}"
    )
    print(f"gunicorn start to first answer (app): {startup:.2f} s")
    ok &= rss <= GOAL_MEMORY_MB and calls_ok
    machine = (
        ""
        if baseline.p99_ms <= GOAL_P99_MS
        else (" (the bare hello app misses the p99 goal too: the machine, not the app)")
    )
    print(
        f"goals (>= {GOAL_SHARE:.0%} of hello req/s, p99 <= {GOAL_P99_MS:.0f} ms, no errors, "
        f"RSS <= {GOAL_MEMORY_MB:.0f} MB): {'all met' if ok else 'NOT all met'}{machine}"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
