"""gunicorn settings, from the environment:

    gunicorn -c webapp/gunicorn_conf.py 'webapp:create_app()'

| variable | default | meaning |
| --- | --- | --- |
| `MOVIEREC_HOST` | `127.0.0.1` | address to bind (`0.0.0.0` in a container) |
| `MOVIEREC_PORT` (or `PORT`) | `8000` | port |
| `MOVIEREC_WORKERS` (or `WEB_CONCURRENCY`) | `min(2 * cores + 1, 8)` | worker processes |
| `MOVIEREC_THREADS` | `1` | threads per worker (more than 1: gthread workers) |
| `MOVIEREC_ACCESS_LOG` | `-` (stdout) | one line per request; empty to turn off |

plus the app's own variables (webapp/settings.py): MOVIEREC_TRAINED_DATA, MOVIEREC_SECRET_KEY, ...

The app is loaded once in the master (preload_app): a missing or corrupt trained_data/ stops
start-up with one line, and workers share the loaded tables. SIGHUP to the master reloads
trained_data/ and restarts the workers gracefully; each worker also picks up a new build by itself
when the manifest changes.
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
bind = f"{os.environ.get('MOVIEREC_HOST', '127.0.0.1')}:" \
       f"{os.environ.get('MOVIEREC_PORT') or os.environ.get('PORT') or '8000'}"
workers = int(os.environ.get("MOVIEREC_WORKERS") or os.environ.get("WEB_CONCURRENCY")
              or min(2 * multiprocessing.cpu_count() + 1, 8))
threads = int(os.environ.get("MOVIEREC_THREADS", "1"))
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
loglevel = os.environ.get("MOVIEREC_LOG_LEVEL", "info")

# The app's own messages (store reloads, warnings) go to stderr like gunicorn's.
_app_log = logging.getLogger("webapp")
if not _app_log.handlers:  # gunicorn reads this file again on SIGHUP
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
                                            "[%Y-%m-%d %H:%M:%S %z]"))
    _app_log.addHandler(_handler)
    _app_log.setLevel(logging.INFO)
    _app_log.propagate = False


def when_ready(server) -> None:
    """Before the workers fork: move the loaded tables out of the cyclic garbage collector's sight
    (a full collection over them takes tens of milliseconds, a tail-latency spike) and keep their
    memory pages shared between the workers."""
    gc.collect()
    gc.freeze()


def on_reload(server) -> None:
    """SIGHUP: load trained_data/ again in the master before the new workers are forked."""
    from webapp import store_holder

    app = server.app.wsgi()
    if store_holder(app).reload():
        server.log.info("trained data %s loaded", store_holder(app).get().build_id)
