"""Parsed entries on disk (SQLite), so that a restart re-reads only the files that changed.

A row per entry file: its path, its stamp (mtime_ns, size, inode) and what
parsing it gave (the entry without its body, and its problems), pickled. The
rows of one refresh are written in one transaction, so an interrupted write
leaves the previous rows; a database that cannot be read is set aside and
rebuilt from the files, which are always the truth.

The whole store is for one parser and one site: a change of either (another
release, another zone or base URL) empties it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
import sqlite3
import time
from pathlib import Path
from typing import Mapping

from . import __version__
from .entries import EntryCache, Parsed, Stamp
from .heap import collections_paused
from .resources import digest

log = logging.getLogger("feedsvc.entrystore")
SCHEMA = 11  # 2: given_summary; 3: SHA-256 digests; 4: NFC names, zone-range dates, date and key checks;
             # 5: numbers in text fields kept as written; 6: at most 100 categories and tags;
             # 7: no date before the year 1000; 8: warnings for local times a DST change skips or repeats,
             #    a tag equal to a category but for case dropped; 9: a lone '%' in link and image is %25
             # 10: timestamps in text fields as written, long slugs cut, a link of spaces as none
             # 11: a title or author of only invisible characters refused, such names and summaries dropped;
             #     an unknown author field a warning; published: false a draft


class EntryStore:
    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = digest(repr((SCHEMA, __version__, key)).encode())
        self._known: dict[str, Stamp] = {}   # what the database holds
        self._db: sqlite3.Connection | None = None

    def reopen(self) -> None:
        """Forget the open database and what it held: its file is gone (the cache
        folder was removed), and writes to the connection would go nowhere."""
        db, self._db = self._db, None
        self._known = {}
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError as e:
                aside = self.path.with_name(f"{self.path.name}.broken-{int(time.time())}")
                log.warning("%s cannot be read (%s); moved to %s and rebuilt from the entry files",
                            self.path, e, aside.name)
                os.replace(self.path, aside)
                self._db = self._connect()
        return self._db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS entries (path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER,"
                       " ino INTEGER, parsed BLOB)")
            row = db.execute("SELECT value FROM meta WHERE name = 'key'").fetchone()
            if row is None or row[0] != self.key:
                db.execute("BEGIN IMMEDIATE")
                db.execute("DELETE FROM entries")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('key', ?)", (self.key,))
                db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    def load_into(self, cache: EntryCache) -> int:
        """Fill ``cache`` with every stored entry; returns how many. Never raises for a bad store."""
        try:
            rows = self._open().execute("SELECT path, mtime_ns, size, ino, parsed FROM entries").fetchall()
        except (sqlite3.Error, OSError) as e:
            log.warning("cannot read %s (%s); parsing every entry file", self.path, e)
            return 0
        loads = pickle.loads
        n = 0
        with collections_paused():   # a hundred thousand entries that all live on
            for path, mtime, size, ino, blob in rows:
                try:
                    parsed = loads(blob)
                except Exception:  # a row from who knows where: parse that file again
                    continue
                stamp = (mtime, size, ino)
                cache.parsed[path] = (stamp, parsed)
                self._known[path] = stamp
                n += 1
        return n

    def save(self, parsed: Mapping[str, tuple[Stamp, Parsed]], paths: set[str] | None = None) -> int:
        """Make the store hold exactly ``parsed``; returns the rows written. Failures are logged, not raised.

        ``paths``: the only ones that can differ from what was saved last (a path
        ``parsed`` no longer holds is a file gone)."""
        if paths is not None:
            changed = [(p, *parsed[p]) for p in paths if p in parsed and self._known.get(p) != parsed[p][0]]
            gone = [p for p in paths if p not in parsed and p in self._known]
        else:
            changed = [(p, s, v) for p, (s, v) in parsed.items() if self._known.get(p) != s]
            gone = [p for p in self._known if p not in parsed]
        if not changed and not gone:
            return 0
        dumps = pickle.dumps
        try:
            db = self._open()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("DELETE FROM entries WHERE path = ?", [(p,) for p in gone])
                # A generator: at 100k entries a list of the pickled rows is 150 MB.
                db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)",
                               ((p, s[0], s[1], s[2], dumps(v, protocol=pickle.HIGHEST_PROTOCOL))
                                for p, s, v in changed))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as e:
            log.warning("cannot write %s (%s); the next restart parses more files", self.path, e)
            return 0
        for p in gone:
            del self._known[p]
        for p, s, _ in changed:
            self._known[p] = s
        return len(changed) + len(gone)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
