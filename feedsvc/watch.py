"""Which entry files changed since the last refresh, from the kernel (inotify) instead of a walk.

A refresh of a large folder otherwise stats every file to find the one that
changed. The watch records the paths the kernel reports; a refresh then looks
at those alone. Whenever the record may be incomplete (before the first full
scan, after a folder was created, moved or deleted, after a flood of events
the kernel may have dropped some of, or if the watch could not start) it
answers "unknown" and the refresh walks the whole folder as before; scheduled
refreshes always walk it too, so nothing a watch misses stays missed.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger("feedsvc.watch")

# More changes than this between two refreshes: a walk is as cheap, and the
# kernel's queue (16,384 events by default) may have overflowed, which the
# watch library does not report.
MAX_PENDING = 1000


class FolderWatch:
    def __init__(self, root: Path) -> None:
        self.path = root
        self.root = os.path.realpath(root)
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._complete = False        # True once a full scan has been taken as the baseline
        self._observer = None

    def start(self) -> bool:
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover - a dependency, but a watch is only an optimisation
            return False
        watch = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                watch._record(event)

        try:
            observer = Observer()
            observer.daemon = True
            observer.schedule(Handler(), self.root, recursive=True)
            observer.start()
        except Exception as e:  # no inotify, too many watches, folder gone: walk instead
            log.warning("cannot watch %s (%s); every refresh walks the folder", self.root, e)
            return False
        self._observer = observer
        return True

    @property
    def running(self) -> bool:
        return self._observer is not None and self._observer.is_alive()

    def _record(self, event: object) -> None:
        kind = getattr(event, "event_type", "")
        if kind in ("opened", "closed_no_write"):
            return   # reads: ours among them
        with self._lock:
            if getattr(event, "is_directory", False) and kind != "modified":
                self._complete = False        # a folder's files came or went at once
                return
            for p in (getattr(event, "src_path", ""), getattr(event, "dest_path", "")):
                if p:
                    p = os.fsdecode(p)
                    rel = os.path.relpath(p, self.root)
                    if not rel.startswith(".."):
                        self._pending.add(rel.replace(os.sep, "/"))
            if len(self._pending) > MAX_PENDING:
                self._complete = False

    def take(self, full: bool = False) -> set[str] | None:
        """Relative paths changed since the last take, or None: walk the whole folder.

        None also starts a new record, since the walk that follows sees
        everything up to now.
        """
        if os.path.realpath(self.path) != self.root:
            # The folder (or a symlink to it) was replaced: watch the new one.
            self.stop()
            with self._lock:
                self._complete = False
            self.root = os.path.realpath(self.path)
            self.start()
        with self._lock:
            if full or not self._complete or not self.running:
                self._pending.clear()
                self._complete = self.running
                return None
            out, self._pending = self._pending, set()
            return out

    def invalidate(self) -> None:
        """What was taken was not applied (the refresh failed): the next one walks."""
        with self._lock:
            self._complete = False

    def stop(self, wait: bool = True) -> None:
        observer, self._observer = self._observer, None
        if observer is None:
            return
        if wait:
            observer.stop()
            observer.join(timeout=5)
        else:
            # At shutdown: the kernel drops the watches when the process ends,
            # and stopping an emitter still adding them can block.
            threading.Thread(target=observer.stop, daemon=True).start()
