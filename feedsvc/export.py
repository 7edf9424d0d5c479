"""Write every public URL as a static tree whose bytes are what the server sends."""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from .errors import ExportError
from .resources import Resource


# In a stage folder while an export writes it, locked by the writer.
WRITING = ".feedsvc-writing"


class Source(Protocol):
    def paths(self) -> list[str]: ...
    def get(self, path: str) -> Resource | None: ...


def file_for(path: str) -> str:
    """URL path -> relative file: '/' -> index.html, '/a/b/' -> a/b/index.html, '/feed.rss' -> feed.rss."""
    rel = path.lstrip("/")
    return rel + "index.html" if rel == "" or rel.endswith("/") else rel


def check_target(out: Path) -> None:
    """Raise ExportError unless ``out`` may be replaced by an export: nothing
    there yet, an earlier export (a symbolic link), or an empty folder.

    An export replaces ``out`` as a whole. A folder with files in it is
    somebody's (``feedsvc export .`` run in a site's folder would take its
    config and entries with it), so it is refused, never emptied.
    """
    out = out.absolute()
    if out.is_symlink() or not out.exists():
        return
    if not out.is_dir():
        raise ExportError(str(out), "is a file; name a new folder (or an earlier export) to write the site to")
    if any(out.iterdir()):
        raise ExportError(str(out), "is a folder with files in it, which an export would replace as a whole; "
                                    "name a new or empty folder, or an earlier export (a symbolic link)")


def export(snapshot: Source, out: Path, gzip: bool = True) -> int:
    """Write the tree next to ``out``, then put it in place; returns the number of files
    written (the ``.gz`` ones included).

    ``out`` becomes a symbolic link to a fresh folder, switched with one rename,
    so a reader (or a CDN sync) sees the old tree or the new one, never a
    half-written one. An empty folder at ``out`` is removed first, and becomes
    such a link too (so the next export replaces it); anything else
    ``check_target`` refuses is left alone.
    """
    check_target(out)
    out = out.absolute()
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    _sweep(out)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    writing = -1
    count = 0
    try:
        # Locked while it is written: a later export removes a stage whose writer
        # was killed (the kernel freed its lock), and nothing else.
        writing = os.open(stage / f"{WRITING}.new", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(writing, fcntl.LOCK_EX)
        os.rename(stage / f"{WRITING}.new", stage / WRITING)   # seen by a sweep only once locked
        for path in snapshot.paths():
            res = snapshot.get(path)
            if res is None:
                continue
            target = stage / file_for(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(res.body)
            count += 1
            if gzip:  # nginx's gzip_static serves these as they are
                target.with_name(target.name + ".gz").write_bytes(res.gzip_body)
                count += 1
        os.chmod(stage, 0o755)
        os.unlink(stage / WRITING)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        if writing >= 0:
            os.close(writing)
    _switch(stage, out)
    return count


def _sweep(out: Path) -> None:
    """Remove the stages of exports beside ``out`` whose writer was killed: those
    holding a WRITING file nobody has locked. A published tree has none."""
    current = out.resolve() if out.is_symlink() else None
    for p in out.parent.iterdir():
        if not p.name.startswith(f".{out.name}.") or p.is_symlink() or not p.is_dir() or p.resolve() == current:
            continue
        try:
            fd = os.open(p / WRITING, os.O_RDWR)
        except OSError:
            continue            # not a stage, or one just finished
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue            # its writer is at work
        finally:
            os.close(fd)
        shutil.rmtree(p, ignore_errors=True)


def _switch(stage: Path, out: Path) -> None:
    if out.is_symlink() or not out.exists():
        old = out.resolve() if out.is_symlink() else None
        link = out.with_name(f".{out.name}.link")
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(stage.name)
        os.replace(link, out)
        if old is not None and old != stage.resolve() and old.parent == out.parent.resolve() \
                and old.name.startswith(f".{out.name}."):
            shutil.rmtree(old, ignore_errors=True)
        return
    out.rmdir()   # empty (check_target): it cannot hold anything by now but what a race put there
    _switch(stage, out)
