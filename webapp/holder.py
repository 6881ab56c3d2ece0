"""The current store of a process, swapped whole when a new build appears; never an older one.

`StoreHolder` keeps the current store and replaces it by reference when the manifest changes
(checked at most once per `check_interval` seconds by `get()`, the new store built in a
background thread), when `refresh()` finds a new build, or when `reload()` is called (gunicorn's
SIGHUP hook). A request takes one reference at its start, so it never sees a half-loaded store.

A build that cannot be loaded is refused and recorded (`refusal`, shown by /healthz): the holder
keeps serving what it has. A broken build is not tried again until the folder changes; an
unexpected failure (a file gone mid-swap, memory) is retried after a growing pause, never in a
tight loop. No exception from loading escapes `reload()` or `refresh()`.

Under gunicorn the master process holds a store too, and workers are forked from it: a worker
forked with an older build than the one its siblings serve would take the site back in time, and
by then that newer build's files may be gone (a build swaps in a whole new folder). So the master
`watch()`es the folder and loads each new build as it appears; forks wait for a load in progress
to finish (os.register_at_fork), and gunicorn_conf.py refreshes before and after each fork.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webapp.manifest import MANIFEST, NO_MANIFEST, TrainedDataError, manifest_stamp
from webapp.store import Store, load_store

log = logging.getLogger(__name__)

# Pause before trying a build again after an unexpected failure: doubles per failure, capped.
RETRY_FIRST_S = 5.0
RETRY_MAX_S = 300.0
MAX_REASON = 300  # characters of a refusal's reason


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Refusal:
    """The newest build that could not be loaded, and why."""

    stamp: tuple[int, int, int]  # its manifest's (mtime_ns, size, inode)
    build_id: str | None  # from its manifest, when that much could be read
    reason: str  # one line
    since: float  # wall-clock time of the first failure at this stamp
    failures: int
    retry_at: float  # time.monotonic() after which it may be tried again (inf: only once changed)

    def to_json(self) -> dict[str, Any]:
        """What /healthz says about it."""
        return {
            "build_id": self.build_id,
            "reason": self.reason,
            "since": _iso(self.since),
            "manifest_modified": _iso(self.stamp[0] / 1e9) if self.stamp != NO_MANIFEST else None,
            "failures": self.failures,
        }


class StoreHolder:
    """The current store; picks up a new build without a restart, never exposing a partial one."""

    def __init__(
        self,
        directory: Path | str,
        *,
        check_interval: float = 1.0,
        loader: Callable[[Path], Store] = load_store,
    ) -> None:
        self.directory = Path(directory).absolute()  # not resolve(): a symlink may be re-pointed
        self.check_interval = check_interval
        self._loader = loader
        self._store = loader(self.directory)  # start-up: errors propagate
        self._lock = threading.Lock()  # one load at a time; forks wait for it (watched holders)
        self._loading = threading.Event()
        self._next_check = time.monotonic() + check_interval
        self._refusal: Refusal | None = None
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ reading
    @property
    def current(self) -> Store:
        """The current store, without looking at the folder."""
        return self._store

    @property
    def refusal(self) -> Refusal | None:
        """The newest build that was refused while this one is served, or None."""
        return self._refusal

    def get(self) -> Store:
        """The current store (and, at most once per interval, a look at whether a new build exists)."""
        now = time.monotonic()
        if self.check_interval >= 0 and now >= self._next_check and not self._loading.is_set():
            self._next_check = now + self.check_interval
            if self._wants(manifest_stamp(self.directory), now):
                self._loading.set()
                threading.Thread(target=self._refresh_in_background, name="store-reload", daemon=True).start()
        return self._store

    # ------------------------------------------------------------------ loading
    def refresh(self) -> bool:
        """Load the folder now when it holds a build not yet loaded nor refused (or due for a
        retry); True when a new build was swapped in. Never raises."""
        if not self._wants(manifest_stamp(self.directory), time.monotonic()):
            return False
        with self._lock:
            # another thread may have loaded (or refused) it while this one waited
            if not self._wants(manifest_stamp(self.directory), time.monotonic()):
                return False
            return self._load_locked()

    def reload(self) -> bool:
        """Load the folder now, whatever was tried before (SIGHUP); True when a new build was
        swapped in. Never raises: a failure is logged and kept in `refusal`."""
        with self._lock:
            return self._load_locked()

    def _wants(self, stamp: tuple[int, int, int], now: float) -> bool:
        """Whether the folder's manifest (at this stamp) is worth a load."""
        if stamp in (NO_MANIFEST, self._store.manifest_stamp):
            return False
        refused = self._refusal
        return refused is None or refused.stamp != stamp or now >= refused.retry_at

    def _load_locked(self) -> bool:
        stamp = manifest_stamp(self.directory)
        try:
            fresh = self._loader(self.directory)
        # Broad on purpose: besides TrainedDataError, a load can meet a file removed mid-swap
        # (FileNotFoundError), a parser error, MemoryError... Any of them must leave the current
        # store serving, and in gunicorn's master an exception escaping a hook stops the server.
        except Exception as exc:  # noqa: BLE001
            self._refuse(stamp, exc)
            return False
        old, self._store = self._store, fresh  # one reference swap
        self._refusal = None
        if gc.get_freeze_count():  # the server froze the loaded tables (gunicorn_conf.when_ready):
            gc.unfreeze()  # let the old store be collected, and freeze the new one
            gc.collect()
            gc.freeze()
        if fresh.build_id != old.build_id:
            log.info("loaded trained data %s (was %s)", fresh.build_id, old.build_id)
        return True

    def _refuse(self, stamp: tuple[int, int, int], exc: Exception) -> None:
        """Record a failed load: TrainedDataError means the build itself is broken (not tried
        again until the folder changes); anything else may pass, so it is retried after a pause
        that doubles each time."""
        previous = self._refusal if self._refusal and self._refusal.stamp == stamp else None
        failures = previous.failures + 1 if previous else 1
        if isinstance(exc, TrainedDataError):
            retry_at = math.inf
            reason = exc.what
            log.warning("keeping trained data %s: %s", self._store.build_id, exc)
        else:
            retry_at = time.monotonic() + min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (failures - 1))
            reason = f"{type(exc).__name__}: {exc}".replace(str(self.directory), self.directory.name)
            log.error(
                "keeping trained data %s: loading %s failed",
                self._store.build_id,
                self.directory,
                exc_info=exc,
            )
        reason = " ".join(reason.split())[:MAX_REASON]  # one line
        self._refusal = Refusal(
            stamp,
            _peek_build_id(self.directory),
            reason,
            previous.since if previous else time.time(),
            failures,
            retry_at,
        )

    def _refresh_in_background(self) -> None:
        try:
            self.refresh()
        finally:
            self._loading.clear()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until a background reload (if any) has finished (for tests and tools)."""
        deadline = time.monotonic() + timeout
        while self._loading.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)

    # ------------------------------------------------------------------ gunicorn's master
    def watch(self) -> None:
        """Look at the folder every check_interval seconds from a background thread and load each
        new build (gunicorn's master, so that every worker it forks starts with the newest good
        build). A fork waits until a load in progress has finished."""
        if self._watcher is not None or self.check_interval < 0:
            return
        _WATCHED.add(self)
        self._watcher = threading.Thread(target=self._watch, name="store-watch", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        """End the watcher thread (for tests)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(10)
        self._watcher = None
        _WATCHED.discard(self)

    def _watch(self) -> None:
        interval = max(self.check_interval, 0.05)
        while not self._stop.wait(interval):
            self.refresh()

    def _after_fork_in_child(self) -> None:
        """In a forked worker: the watcher thread did not come along, the locks start free."""
        self._lock = threading.Lock()
        self._loading = threading.Event()
        self._stop = threading.Event()
        self._watcher = None
        self._next_check = time.monotonic() + self.check_interval


def _peek_build_id(directory: Path) -> str | None:
    """The manifest's build_id when it can be read, for the refusal record."""
    try:
        build_id = json.loads((directory / MANIFEST).read_text(encoding="utf-8")).get("build_id")
    except Exception:  # noqa: BLE001 - the manifest may be the very thing that is broken
        return None
    return build_id if isinstance(build_id, str) else None


# Holders that watch their folder from a thread. A fork must not copy one of them in the middle of
# a load (the child would inherit a held lock and a half-built store): each fork takes their load
# locks first, and releases them in both processes after.
_WATCHED: weakref.WeakSet[StoreHolder] = weakref.WeakSet()
_HELD: list[StoreHolder] = []  # the holders whose locks this fork took


def _before_fork() -> None:
    _HELD[:] = list(_WATCHED)
    for holder in _HELD:
        holder._lock.acquire()


def _after_fork_in_parent() -> None:
    for holder in _HELD:
        holder._lock.release()
    _HELD.clear()


def _after_fork_in_child() -> None:
    for holder in _HELD:
        holder._after_fork_in_child()
        _WATCHED.discard(holder)
    _HELD.clear()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)
