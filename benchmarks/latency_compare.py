"""Sequential request latency of two builds served side by side (e.g. the bundled data and a
25M-rating build), one gunicorn worker each, requests alternating between them:

    python benchmarks/latency_compare.py SMALL_TRAINED_DATA LARGE_TRAINED_DATA [--requests 400]

For each build: a different random triple of catalog movies per request, as the JSON API and as
the result page; prints p50/p90 per build and the ratio of the medians (large / small). The goal
of full-size serving is a ratio of at most 2. A script, not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 20  # requests per build and kind left out of the figures


def _get(url: str, data: bytes | None = None) -> float:
    headers = {"Content-Type": "application/json"} if data else {}
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=60) as r:
        r.read()
    return time.perf_counter() - started


def _serve(trained_data: str, port: int, scratch: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "MOVIEREC_TRAINED_DATA": trained_data,
        "MOVIEREC_PORT": str(port),
        "MOVIEREC_WORKERS": "1",
        "MOVIEREC_SECRET_KEY": "latency-compare",
        "MOVIEREC_DATABASE_PATH": str(scratch / f"feedback-{port}.sqlite3"),  # unused, kept apart
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "webapp/gunicorn_conf.py", "webapp:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn for {base} exited with {proc.returncode}")
        try:
            _get(base + "/healthz")
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{base} did not answer within 120 s")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("small", help="trained_data folder of the baseline build")
    parser.add_argument("large", help="trained_data folder of the large build")
    parser.add_argument("--requests", type=int, default=400, help="requests per build and kind")
    parser.add_argument("--port", type=int, default=8200, help="first of two free ports")
    args = parser.parse_args()
    builds = {"small": args.small, "large": args.large}
    bases = {name: f"http://127.0.0.1:{args.port + i}" for i, name in enumerate(builds)}
    scratch = Path(tempfile.mkdtemp(prefix="latency-compare-"))
    procs = {name: _serve(td, args.port + i, scratch) for i, (name, td) in enumerate(builds.items())}
    try:
        for name, base in bases.items():
            _wait(base, procs[name])
        catalogs = {}
        for name, base in bases.items():
            with urllib.request.urlopen(base + "/api/catalog") as r:
                catalogs[name] = [m["movie_id"] for m in json.load(r)["movies"]]
        rng = random.Random(3)
        times: dict[tuple[str, str], list[float]] = {(n, k): [] for n in builds for k in ("api", "page")}
        for _ in range(args.requests + WARM_UP):
            for name, base in bases.items():
                ids = rng.sample(catalogs[name], 3)
                body = json.dumps({"movie_ids": ids}).encode()
                times[(name, "api")].append(_get(base + "/api/recommendations", body))
                query = "&".join(f"movie_ids={m}" for m in ids)
                times[(name, "page")].append(_get(f"{base}/recommendations?{query}"))
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(scratch, ignore_errors=True)
    for (name, kind), values in times.items():
        kept = values[WARM_UP:]
        p50, p90 = 1000 * _quantile(kept, 0.5), 1000 * _quantile(kept, 0.9)
        print(f"{name:6} {kind:5} p50 {p50:6.2f} ms  p90 {p90:6.2f} ms")
    for kind in ("api", "page"):
        small = _quantile(times[("small", kind)][WARM_UP:], 0.5)
        large = _quantile(times[("large", kind)][WARM_UP:], 0.5)
        print(f"{kind}: median large / small = {large / small:.2f} (goal <= 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
