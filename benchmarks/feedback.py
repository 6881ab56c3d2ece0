"""Feedback under load on loopback: wrk posting marks to gunicorn, on the default SQLite database,
and the result page's throughput with and without feedback being written, in one run.

    python benchmarks/feedback.py [--trained-data trained_data] [--duration 10] [--connections 64]
                                  [--stream-rate 20]

Runs, each for --duration seconds, against one gunicorn (webapp/gunicorn_conf.py) with a fresh
SQLite file in a temporary folder (WAL, synchronous=FULL: every acknowledged mark is on disk):

1. feedback posts: the result page's form (POST /feedback, a session cookie and its CSRF token,
   a different mark each request), 64 connections, rate limits lifted (so every post is stored);
   then every answered post is checked to be in the database;
2. the result page (a shared link, one URL), 64 connections, alone;
3. the same, while a steady stream of --stream-rate marks a second is written (SteadyPosts);
4. the same, while 64 connections flood /feedback from one address with the default rate limits
   (a second gunicorn: most posts get 429 from the worker's memory, without the database).

Goal: the result page keeps at least 90% of its requests/s while the steady stream is written
(3 against 2). A script, not a test: exit status 0 unless --strict and the goal is missed.
"""

from __future__ import annotations

import argparse
import http.client
import http.cookiejar
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from web import LUA_DONE, ROOT, Run, Server, catalog_ids, default_workers, lua_script, run_wrk  # noqa: E402

GOAL_SHARE = 0.90

# wrk: POST a different mark each request (the form's fields fixed, the mark rotating), as fast
# as it can.
LUA_POSTS = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = %(cookie)s
local base = %(base)s
local marks = %(marks)s
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, base .. "&mark=" .. marks[(n %% #marks) + 1])
end
"""


def session_form(base: str, page: str) -> tuple[str, str, list[int]]:
    """A visitor's session cookie, the result page's form fields (urlencoded) and its ten movies."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(base + page).read().decode()
    form = html.split('<form id="feedback"', 1)[1].split("</form>", 1)[0]
    fields = [
        (unescape(n), unescape(v))
        for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    ]
    movies = [int(m) for m in re.findall(r'value="loved:(\d+)"', html)]
    # one mark first, so that the session holds a visitor id: every post below is then the same
    # visitor's (its picks stored once), as when one person clicks through the page
    opener.open(base + "/feedback", urlencode(fields + [("mark", f"loved:{movies[0]}")]).encode()).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return cookie, urlencode(fields), movies[1:]


def marks(movies: list[int]) -> list[str]:
    """Every kind of mark on each movie, urlencoded (the form's `mark` field)."""
    return [f"{k}%3A{m}" for m in movies for k in ("loved", "not_for_me", "not_interested", "more")]


def posts_script(path: Path, cookie: str, body: str, movies: list[int]) -> Path:
    lua = LUA_POSTS % {
        "cookie": json.dumps(cookie),
        "base": json.dumps(body),
        "marks": "{" + ",".join(json.dumps(m) for m in marks(movies)) + "}",
    }
    path.write_text(lua + LUA_DONE)
    return path


def stored_marks(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM feedback WHERE kind <> 'pick'").fetchone()[0]


def wrk_background(
    name: str, url: str, script: Path, args: argparse.Namespace, connections: int
) -> subprocess.Popen:
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{args.duration}s", "--timeout", "5s", "-s", str(script), url],
        stdout=subprocess.PIPE,
        text=True,
    )


def finish(name: str, proc: subprocess.Popen) -> Run:
    out, _ = proc.communicate(timeout=120)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    r = json.loads(line[len("RESULT ") :])
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return Run(name, r["requests"], r["requests"] / r["seconds"], r["p50_ms"], r["p99_ms"], errors)


class SteadyPosts(threading.Thread):
    """`rate` marks a second for `duration` seconds, each on a connection opened when its request
    is ready to go (as a browser behind a buffering proxy sends it). wrk's paced connections would
    not do: wrk connects, then waits out the pause before it writes, and a sync worker that has
    accepted the connection sits idle for the pause (2 paced connections cost the result page a
    quarter of its throughput with 3 workers, whether they posted marks or asked for /healthz)."""

    def __init__(
        self, port: int, cookie: str, body: str, movies: list[int], rate: int, duration: int
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.cookie, self.rate, self.duration = port, cookie, max(rate, 1), duration
        self.bodies = [f"{body}&mark={mark}" for mark in marks(movies)]
        self.latencies: list[float] = []
        self.errors = 0

    def run(self) -> None:
        start = time.perf_counter()
        n = 0
        while (due := start + n / self.rate) < start + self.duration:
            time.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request(
                    "POST",
                    "/feedback",
                    self.bodies[n % len(self.bodies)],
                    {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie},
                )
                status = conn.getresponse().status
                conn.close()
                self.errors += status >= 400
            except OSError:
                self.errors += 1
            self.latencies.append((time.perf_counter() - sent) * 1000)
            n += 1
        self.seconds = time.perf_counter() - start

    def finish(self, name: str) -> Run:
        self.join()
        ordered = sorted(self.latencies) or [0.0]
        p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
        return Run(
            name, len(self.latencies), len(self.latencies) / self.seconds, p(0.5), p(0.99), self.errors
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trained-data", type=Path, default=ROOT / "trained_data")
    parser.add_argument("--workers", type=int, default=default_workers(), help="gunicorn_conf's default")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--stream-rate", type=int, default=20, help="marks a second in run 3")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if not (args.trained_data / "manifest.json").exists():
        raise SystemExit(f"no trained data in {args.trained_data}: run `make build` first")
    work = Path(tempfile.mkdtemp(prefix="bench-feedback-"))
    database = work / "feedback.sqlite3"
    os.environ.update(
        {
            "MOVIEREC_DATABASE_PATH": str(database),
            "MOVIEREC_ACCESS_LOG": "",
            "MOVIEREC_RATE_LIMIT_VISITOR": "0",
            "MOVIEREC_RATE_LIMIT_ADDRESS": "0",
        }
    )
    print(
        f"gunicorn: {args.workers} sync workers; wrk: {args.connections} connections, "
        f"{args.duration} s per run; SQLite {database} (WAL, synchronous=FULL); {os.cpu_count()} CPUs"
    )
    app = Server("webapp:create_app()", args, work / "app.log")
    try:
        ids = catalog_ids(app.base)
        page = "/recommendations?" + "&".join(f"movie_ids={m}" for m in ids[:3])
        cookie, body, movies = session_form(app.base, page)
        posts = posts_script(work / "posts.lua", cookie, body, movies)
        before = stored_marks(database)
        flood = run_wrk("feedback posts (stored)", app.base + "/feedback", posts, args)
        stored = stored_marks(database) - before
        alone = run_wrk("result page, alone", app.base + page, lua_script(work / "page.lua"), args)
        stream = SteadyPosts(app.port, cookie, body, movies, args.stream_rate, args.duration)
        stream.start()
        during = run_wrk(
            f"result page, {args.stream_rate}/s marks written",
            app.base + page,
            lua_script(work / "page2.lua"),
            args,
        )
        streamed = stream.finish("steady feedback stream")
    finally:
        app.stop()
    os.environ.update({"MOVIEREC_RATE_LIMIT_VISITOR": "60", "MOVIEREC_RATE_LIMIT_ADDRESS": "600"})
    limited = Server("webapp:create_app()", args, work / "limited.log")
    try:
        cookie, body, movies = session_form(limited.base, page)
        flooder = wrk_background(
            "flood",
            limited.base + "/feedback",
            posts_script(work / "flood.lua", cookie, body, movies),
            args,
            args.connections,
        )
        flooded = run_wrk("result page, 429 flood", limited.base + page, lua_script(work / "page3.lua"), args)
        flood_run = finish("feedback flood (rate-limited)", flooder)
    finally:
        limited.stop()

    print(f"\n{'run':36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx/3xx':>12}")
    for run in (flood, alone, during, streamed, flooded, flood_run):
        print(f"{run.name:36} {run.rps:9.0f} {run.p50_ms:8.1f} {run.p99_ms:8.1f} {run.errors:12d}")
    complete = "(all there)" if stored >= flood.requests - flood.errors else "(MISSING ROWS)"
    print(
        f"\nfeedback posts answered: {flood.requests:,} (errors {flood.errors}); marks in the "
        f"database: {stored:,} {complete}"
    )
    share = during.rps / alone.rps
    flood_share = flooded.rps / alone.rps
    ok = share >= GOAL_SHARE and stored >= flood.requests - flood.errors
    print(
        f"result page while {streamed.rps:.0f} marks/s were written: {share:.0%} of its "
        f"requests/s alone (goal >= {GOAL_SHARE:.0%}: {'met' if share >= GOAL_SHARE else 'MISSED'}); "
        f"under a rate-limited flood of {flood_run.rps:.0f} posts/s (mostly 429): {flood_share:.0%}"
    )
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
