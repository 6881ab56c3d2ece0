"""The current store of a process, swapped whole when a new build appears.

`StoreHolder` keeps the current store and replaces it by reference when the manifest changes
(checked at most once per `check_interval` seconds, the new store built in a background thread)
or when `reload()` is called (gunicorn's SIGHUP hook). A request takes one reference at its
start, so it never sees a half-loaded store.
"""
from __future__ import annotations

import gc
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from webapp.manifest import TrainedDataError, manifest_stamp
from webapp.store import Store, load_store

log = logging.getLogger(__name__)


class StoreHolder:
    """The current store; picks up a new build without a restart, never exposing a partial one."""

    def __init__(self, directory: Path | str, *, check_interval: float = 1.0,
                 loader: Callable[[Path], Store] = load_store) -> None:
        self.directory = Path(directory).absolute()  # not resolve(): a symlink may be re-pointed
        self.check_interval = check_interval
        self._loader = loader
        self._store = loader(self.directory)  # start-up: errors propagate
        self._lock = threading.Lock()
        self._loading = threading.Event()
        self._next_check = time.monotonic() + check_interval
        self._failed_stamp: tuple[int, int, int] | None = None

    def get(self) -> Store:
        """The current store (and, at most once per interval, a look at whether a new build exists)."""
        now = time.monotonic()
        if self.check_interval >= 0 and now >= self._next_check and not self._loading.is_set():
            self._next_check = now + self.check_interval
            stamp = manifest_stamp(self.directory)
            if stamp not in (self._store.manifest_stamp, self._failed_stamp, (0, 0, 0)):
                self._loading.set()
                threading.Thread(target=self._reload_in_background, name="store-reload",
                                 daemon=True).start()
        return self._store

    def reload(self) -> bool:
        """Load the folder now (e.g. on SIGHUP); True when a new build was swapped in."""
        with self._lock:
            stamp = manifest_stamp(self.directory)
            try:
                fresh = self._loader(self.directory)
            except TrainedDataError as exc:
                self._failed_stamp = stamp
                log.warning("keeping trained data %s: %s", self._store.build_id, exc)
                return False
            old, self._store = self._store, fresh  # one reference swap
            self._failed_stamp = None
            if gc.get_freeze_count():  # the server froze the loaded tables (gunicorn_conf.when_ready):
                gc.unfreeze()  # let the old store be collected, and freeze the new one
                gc.collect()
                gc.freeze()
        if fresh.build_id != old.build_id:
            log.info("loaded trained data %s (was %s)", fresh.build_id, old.build_id)
        return True

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until a background reload (if any) has finished (for tests and tools)."""
        deadline = time.monotonic() + timeout
        while self._loading.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _reload_in_background(self) -> None:
        try:
            self.reload()
        finally:
            self._loading.clear()
