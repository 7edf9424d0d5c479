"""Which entry files changed since the last refresh, from the kernel (inotify) instead of a walk.

A refresh of a large folder otherwise stats every file to find the one that
changed. The watch holds an inotify watch on every folder below the entries
folder and, at each refresh, reads what the kernel queued since the last one.
There is no reader thread: the kernel queues an event before the write that
caused it returns, so reading the queue when a refresh starts sees every
change made before it was asked for (a thread reading in the background
could still be holding events back, and a file written just before a
"refresh now" would be missed).

Whenever the record may be incomplete (before the first walk, after a folder
was created, moved or deleted, after the kernel's queue overflowed, after a
failed refresh) it answers "unknown" and the refresh walks the whole folder;
scheduled refreshes always walk it too, so a change a watch cannot see (a
network file system) is published at the next interval at the latest. Linux
only; elsewhere every refresh walks.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger("feedsvc.watch")

# More changed paths than this between two refreshes: a walk costs no more.
MAX_PENDING = 1000


class FolderWatch:
    def __init__(self, root: Path) -> None:
        self.path = root
        self.root = os.path.realpath(root)
        # Reentrant: take() stops and restarts the watch holding it, and a stop
        # from another thread (the service shutting down) waits for a take.
        self._lock = threading.RLock()
        self._inotify = None
        self._folders: dict[int, str] = {}     # watch descriptor -> folder, relative ('' for the root)
        self._complete = False                  # True once a walk has been taken as the baseline

    def start(self) -> bool:
        try:
            from inotify_simple import INotify
            self._inotify = INotify(nonblocking=True)
            self._add_folders()
        except Exception as e:  # not Linux, out of watches, folder gone: walk instead
            log.warning("cannot watch %s (%s); every refresh walks the folder", self.root, e)
            self.stop()
            return False
        return True

    @property
    def running(self) -> bool:
        return self._inotify is not None

    @property
    def has_baseline(self) -> bool:
        """A walk since the watch started was applied: the next take can say what changed."""
        return self._inotify is not None and self._complete

    def _add_folders(self) -> None:
        """A watch on every folder (re-adding one already watched is harmless)."""
        from inotify_simple import flags
        assert self._inotify is not None
        mask = (flags.CLOSE_WRITE | flags.MODIFY | flags.ATTRIB | flags.CREATE | flags.DELETE | flags.MOVED_FROM
                | flags.MOVED_TO | flags.DELETE_SELF | flags.MOVE_SELF)
        self._folders.clear()
        for folder, dirs, _ in os.walk(self.root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            wd = self._inotify.add_watch(folder, mask)
            rel = os.path.relpath(folder, self.root)
            self._folders[wd] = "" if rel == "." else rel.replace(os.sep, "/") + "/"

    def take(self, full: bool = False) -> set[str] | None:
        """Relative paths changed since the last take, or None: walk the whole folder.

        None also starts a new record, since the walk that follows sees
        everything up to now.
        """
        with self._lock:
            if os.path.realpath(self.path) != self.root:
                # The folder (or a symlink to it) was replaced: watch the new one.
                self.stop()
                self.root = os.path.realpath(self.path)
                self.start()
            if self._inotify is None:
                return None
            try:
                changed, complete = self._drain()
            except OSError as e:
                log.warning("watch of %s failed (%s); walking the folder from now on", self.root, e)
                self.stop()
                return None
            if full or not complete or not self._complete or len(changed) > MAX_PENDING:
                try:
                    self._add_folders()        # folders may have come or gone
                except OSError:
                    self.stop()
                    return None
                self._complete = True
                return None
            return changed

    def _drain(self) -> tuple[set[str], bool]:
        from inotify_simple import flags
        assert self._inotify is not None
        changed: set[str] = set()
        complete = True
        while True:
            events = self._inotify.read(timeout=0)
            if not events:
                return changed, complete
            for ev in events:
                if ev.mask & (flags.Q_OVERFLOW | flags.IGNORED | flags.DELETE_SELF | flags.MOVE_SELF):
                    complete = False       # events lost, or a watched folder went away
                    continue
                if ev.mask & flags.ISDIR:
                    if ev.mask & (flags.CREATE | flags.DELETE | flags.MOVED_FROM | flags.MOVED_TO):
                        complete = False   # a folder's files came or went at once
                    continue
                folder = self._folders.get(ev.wd)
                if folder is None:
                    complete = False
                    continue
                changed.add(folder + ev.name)

    def invalidate(self) -> None:
        """What was taken was not applied (the refresh failed): the next one walks."""
        with self._lock:
            self._complete = False

    def stop(self) -> None:
        with self._lock:
            ino, self._inotify = self._inotify, None
            self._complete = False
        if ino is not None:
            try:
                ino.close()
            except OSError:
                pass
