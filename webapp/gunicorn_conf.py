"""gunicorn settings, from the environment:

    gunicorn -c webapp/gunicorn_conf.py 'webapp:create_app()'

| variable | default | meaning |
| --- | --- | --- |
| `MOVIEREC_HOST` | `127.0.0.1` | address to bind (`0.0.0.0` in a container) |
| `MOVIEREC_PORT` (or `PORT`) | `8000` | port |
| `MOVIEREC_WORKERS` (or `WEB_CONCURRENCY`) | `min(cores + 1, 8)` | worker processes |
| `MOVIEREC_THREADS` | `1` | threads per worker (more than 1: gthread workers) |
| `MOVIEREC_ACCESS_LOG` | `-` (stdout) | one line per request; empty to turn off |
| `MOVIEREC_LOG_LEVEL` | `info` | gunicorn's and the app's messages: debug, info, warning, error, critical |

A bad value of one of these (`MOVIEREC_WORKERS=0`, `MOVIEREC_LOG_LEVEL=loud`) stops start-up
with one line that names it.

plus the app's own variables (webapp/settings.py): MOVIEREC_TRAINED_DATA, MOVIEREC_SECRET_KEY, ...

The app is loaded once in the master (preload_app): a missing or corrupt trained_data/ stops
start-up with one line, and workers share the loaded tables. SIGHUP to the master reloads
trained_data/ and restarts the workers gracefully; each worker also picks up a new build by itself
when the manifest changes, and so does the master (a watcher thread), so that a worker forked
later never starts with an older build than the newest good one.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import sys

# One BLAS thread per worker: the workers already use every core, and the app (numpy, imported
# when preload_app loads it in the master, after this file) does tiny matrix products for which
# extra BLAS threads only add contention. Set before numpy's first import; an explicit value wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

wsgi_app = "webapp:create_app()"


def default_workers(cpus: int | None = None) -> int:
    """Worker processes when none are asked for: one per core and one more, at most 8 (each
    worker keeps its own caches).

    A request here is CPU work (numpy scoring, rendering; a feedback mark's SQLite commit takes
    well under a millisecond), so workers beyond the cores only take turns on them. Measured on
    2 cores (benchmarks/web.py, 2026-11-26): 3 workers served 20 to 35% more fresh result pages
    and varied API calls a second than gunicorn's usual 2 * cores + 1 (5), with a lower p99, and
    the result page kept 95% of its throughput while 20 marks a second were written
    (benchmarks/feedback.py; 97% with 5). Sync workers need a buffering proxy in front (README,
    "Behind a proxy"): a client that connects and then dawdles holds a worker however many
    there are."""
    return min((cpus or multiprocessing.cpu_count()) + 1, 8)


def _count(names: tuple[str, ...], default: int, high: int = 64) -> int:
    """The first of the variables `names` that is set, as a whole number from 1 to high; a bad
    value stops start-up with one line (gunicorn would run 0 workers, and never answer)."""
    for name in names:
        text = os.environ.get(name)
        if text:
            from webapp.params import parse_int  # here: numpy's BLAS threads are set above

            value = parse_int(text, 1, high, spaces=False)
            if value is None:
                raise SystemExit(f"Error: {name} must be a whole number from 1 to {high}, got {text!r}")
            return value
    return default


def _log_level(text: str) -> str:
    """MOVIEREC_LOG_LEVEL, one of LOG_LEVELS (gunicorn itself would take any text as 'info')."""
    if text.lower() not in LOG_LEVELS:
        raise SystemExit(f"Error: MOVIEREC_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.lower()


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# a port past 65535 was a traceback from the socket
bind = f"{os.environ.get('MOVIEREC_HOST', '127.0.0.1')}:{_count(('MOVIEREC_PORT', 'PORT'), 8000, 65535)}"
workers = _count(("MOVIEREC_WORKERS", "WEB_CONCURRENCY"), default_workers())
threads = _count(("MOVIEREC_THREADS",), 1)
preload_app = True
timeout = 30
graceful_timeout = 20
keepalive = 5
# Small request limits: the app takes three ids, a search text or a small JSON body.
limit_request_line = 4094
limit_request_fields = 60
limit_request_field_size = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = os.environ.get("MOVIEREC_ACCESS_LOG", "-") or None
# One line per request: client, request line, status, bytes, duration in milliseconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'
errorlog = "-"
loglevel = _log_level(os.environ.get("MOVIEREC_LOG_LEVEL") or "info")

# The app's own messages (store reloads, warnings) go to stderr like gunicorn's.
_app_log = logging.getLogger("webapp")
if not _app_log.handlers:  # gunicorn reads this file again on SIGHUP
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(
        logging.Formatter("%(asctime)s [%(process)d] [%(levelname)s] %(message)s", "[%Y-%m-%d %H:%M:%S %z]")
    )
    _app_log.addHandler(_handler)
    _app_log.propagate = False
_app_log.setLevel(loglevel.upper())  # the app's messages follow MOVIEREC_LOG_LEVEL too


def _holder(server):
    """The served app's StoreHolder, or None for an app without one (the same settings also serve
    benchmarks/hello_app.py)."""
    from webapp import STORE_KEY

    return getattr(server.app.wsgi(), "extensions", {}).get(STORE_KEY)


def _safely(server, what: str, action) -> None:
    """Run a hook's work; an exception escaping a hook in the master stops gunicorn (or the
    worker being forked), so it is logged instead, and the server goes on with what it has."""
    try:
        holder = _holder(server)
        if holder is not None:
            action(holder)
    except Exception:
        server.log.exception("%s failed; serving the trained data loaded before", what)


def when_ready(server) -> None:
    """Before the workers fork: move the loaded tables out of the cyclic garbage collector's sight
    (a full collection over them takes tens of milliseconds, a tail-latency spike) and keep their
    memory pages shared between the workers. Then watch trained_data/ from the master, so that a
    worker forked later (SIGHUP, a worker restarted after a timeout or a crash) starts with the
    newest good build even when that build's files have since been replaced by a broken one."""
    gc.collect()
    gc.freeze()
    _safely(server, "watching the trained data folder", lambda holder: holder.watch())


def pre_fork(server, worker) -> None:
    """In the master, just before a fork: load a build that appeared since the last look, so the
    worker starts with it."""
    _safely(server, "looking for a new build before a fork", lambda holder: holder.refresh())


def post_fork(server, worker) -> None:
    """In the new worker: look once more, in case a build appeared during the fork."""
    _safely(server, "looking for a new build after a fork", lambda holder: holder.refresh())


def on_reload(server) -> None:
    """SIGHUP: load trained_data/ again in the master before the new workers are forked. A build
    that cannot be loaded is refused (logged, shown by /healthz) and the master keeps the newest
    good one, which the new workers then inherit."""

    def reload(holder) -> None:
        if holder.reload():
            server.log.info("trained data %s loaded", holder.current.build_id)
        else:
            server.log.warning("trained data %s kept", holder.current.build_id)

    _safely(server, "reloading the trained data", reload)
