"""Random changes, clock moves, failures, restarts: writer, worker and a full build serve the same bytes.

Every refresh of a random history (arrivals, departures, edits, renames, drafts,
scheduled entries, updates ahead, colliding slugs and ids, broken files, files
that cannot be read (FIFOs, links to nothing), the clock passing a due date,
injected failures, restarts) is compared with a full build of the same files: the writer's bytes, a worker's (from the cache folder),
the report's ids and problems, and the entry store. The suite runs a few seeds;
``RAND_SEEDS=300`` runs more (about a second each).
"""
from __future__ import annotations

import dataclasses as dc
import datetime as dt
import os
import random
import sqlite3

import pytest

from feedsvc import persist, refresher
from feedsvc.persist import SnapshotStore
from feedsvc.refresher import new_refresher
from .conftest import NOW, Clock


class Told:
    """A watch that reports what it is told; None (walk) when new or after a failed refresh."""
    paths = None

    def tell(self, paths):
        self.paths = None if self.paths is None else self.paths | paths

    def take(self, full=False):
        out, self.paths = self.paths, set()
        return None if full else out

    def invalidate(self):
        self.paths = None


def bodies(snap):   # every public path, article and archive pages too
    return {p: (g.body if (g := snap.get(p)) is not None else None) for p in snap.paths()}


def _raise(*a, **k): raise OSError("injected")   # noqa: E704


def _no_manifest(path, data, real=persist.atomic_write):   # fails after the tables were patched
    return _raise() if path.suffix == ".json" and path.parent.name == "snapshots" else real(path, data)


FAILS = {"build_site": (refresher, "build_site", _raise), "write": (SnapshotStore, "write", _raise),
         "report": (SnapshotStore, "write_report", _raise), "collect": (SnapshotStore, "_collect_garbage", _raise),
         "manifest": (persist, "atomic_write", _no_manifest)}


@pytest.mark.parametrize("seed", range(int(os.environ.get("RAND_SEEDS", 6))))
def test_random_refreshes_publish_what_a_full_build_publishes(seed, make_config, entries_dir, monkeypatch):
    rng, root, clock, tick = random.Random(seed), entries_dir, Clock(NOW), [0]
    hostile = rng.random() < 0.5                  # slugs, ids and category names collide often, or seldom
    names = ["Science", "science"][:2 if hostile else 1] + ["Arts", "Configured", "Sport", "Science"]
    claim, stems = (0.10, 30) if hostile else (0.02, 300)
    config = make_config(feeds={"max_entries": rng.choice([2, 3])}, categories={
        "Configured": {"title": "Set by hand"}, "Quiet": {}, rng.choice(["Science", "science"][:2 if hostile else 1]): {}})
    monkeypatch.setattr(persist, "MAX_OVERLAY", 3 if seed % 3 == 0 else persist.MAX_OVERLAY)   # tables rewritten

    def text():
        roll, when = rng.random(), clock.now + dt.timedelta(hours=rng.choice([-3000, -500, -30, -2, 1, 5, 40]))
        if roll < 0.06:
            return "---\ntitle: [unclosed\ndate: 2025-07-01\n---\nBroken.\n"
        meta = [f"title: T {rng.randint(0, 99)}", f"date: {when:%Y-%m-%dT%H:%M:%SZ}",
                f"categories: [{', '.join(rng.sample(names, rng.randint(0, 3)))}]"]   # may repeat one
        ahead = clock.now + dt.timedelta(hours=rng.choice([-1, 1, 3]))
        for upto, line in ((0.10, None), (0.18, "draft: true"), (0.18 + claim, f"slug: claimed-{rng.randint(0, 1)}"),
                           (0.18 + 2 * claim, f"id: urn:x:{rng.randint(0, 1)}"),
                           (0.28 + 2 * claim, f"updated: {ahead:%Y-%m-%dT%H:%M:%SZ}")):
            if roll < upto:
                meta = [*meta, line] if line else ["title: No date"]
                break
        return "---\n" + "\n".join(meta) + f"\n---\nBody {rng.randint(0, 9)}.\n"

    def write(rel, data=None):
        (p := root / rel).parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(p) and (p.is_symlink() or not p.is_file()):   # a FIFO or a link: never written through
            p.unlink()
        p.write_text(text() if data is None else data)
        tick[0] += 1                              # a later mtime each time: no two versions share a stamp
        os.utime(p, ns=(t := 1_700_000_000_000_000_000 + tick[0] * 1_000_000, t))

    # The entry files that can be read (FIFOs and links to nothing or out of the
    # folder are listed, and reported, but never read).
    present = lambda: {p.relative_to(root).as_posix() for p in root.rglob("*.md")   # noqa: E731
                       if p.is_file() and not p.is_symlink()}
    (root.parent / "elsewhere.md").write_text("---\ntitle: Elsewhere\ndate: 2025-07-01\n---\nOut.\n")

    [write(f"d{i % 2}/f{i:02d}.md") for i in range(rng.randint(3, 12) if hostile else rng.randint(8, 25))]
    r = new_refresher(config, clock=clock)
    r.watch = watch = Told()   # the first refresh walks
    digests, undo, failed_undo = {}, [], []
    for step in range(rng.randint(20, 40)):
        told, files, kind = set(), sorted(present()), rng.random()
        if kind < 0.12 and r.last is not None and r.last.next_due is not None:
            clock.now = r.last.next_due + dt.timedelta(seconds=rng.choice([0, 0, 1, 3600]))
        elif kind < 0.17:
            clock.now += dt.timedelta(minutes=rng.randint(1, 300))
        n = 0 if kind < 0.17 and rng.random() < 0.5 else rng.randint(1, 3)   # 0: the watch reports nothing
        redo, mark = failed_undo if failed_undo and rng.random() < 0.5 else [], len(undo)   # a failure undone
        for k in [0.77] * len(redo) + [rng.random() for _ in range(n)]:
            if k < 0.3 or k >= 0.8 or not files:   # a new file, or an edit
                new = k < 0.3 or not files
                write(rel := f"{rng.choice(['0', 'd0', 'd1', 'd2'])}/f{rng.randint(0, stems):02d}.md" if new
                      else rng.choice(files))
                told.add(rel)
            elif k < 0.5:
                if (root / (rel := rng.choice(files))).is_file():
                    undo.append((rel, (root / rel).read_text(), None))
                    (root / rel).unlink()
                    if k < 0.36:                  # not gone: turned into a file that cannot be read
                        if k < 0.33:
                            os.mkfifo(root / rel)
                        else:   # a link to nothing, or out of the folder (to a file there)
                            os.symlink("missing.md" if k < 0.345 else root.parent / "elsewhere.md", root / rel)
                told.add(rel)
            elif k < 0.65:
                rel = rng.choice(files)
                to = f"{rng.choice(['0', 'd0', 'd1', 'd2'])}/{rng.choice(['a-', 'z-', ''])}{rel.rsplit('/', 1)[1]}"
                if (root / rel).is_file() and not (root / to).exists():
                    (root / to).parent.mkdir(exist_ok=True)
                    (root / rel).rename(root / to)
                    undo.append((rel, None, to))
                    told |= {rel, to}
            elif k < 0.75:
                if (root / (rel := rng.choice(files))).is_file():   # deleted and written again in one batch
                    data = (root / rel).read_text() if rng.random() < 0.5 else None
                    (root / rel).unlink()
                    write(rel, data)
                    told.add(rel)
            elif k < 0.8 and (redo or undo):      # a deletion or a rename undone, bytes as they were
                rel, data, moved = (redo or undo).pop()
                if not (root / rel).exists() and (moved is None or (root / moved).exists()):
                    (root / moved).rename(root / rel) if moved else write(rel, data)
                    told |= {rel, moved} - {None}
            else:
                told.add(rng.choice(files))       # named, but unchanged
        watch.tell(told)
        made, failed_undo, mp = undo[mark:], [], pytest.MonkeyPatch()
        if fail := rng.choice(list(FAILS)) if rng.random() < 0.07 and step else None:
            mp.setattr(*FAILS[fail])
        served = lambda snap: {p: res.body for p, res in snap.resources.items()}  # noqa: E731
        before = [served(r.store.current), served(SnapshotStore(config.cache_path).load(config) or r.store.current)]
        report = r.refresh(full=rng.random() < 0.05)
        mp.undo()
        if fail and not report.ok:
            failed_undo = made
            disk = SnapshotStore(config.cache_path).load(config)   # newer if the write went live
            assert served(r.store.current) in (*before, served(disk)), (seed, step)
            digests = disk.entry_digests   # the ids workers serve
            continue
        assert report.ok, (seed, step, report.error)
        full_r = new_refresher(dc.replace(config, cache_path=None), clock=clock)
        full_report, want = full_r.refresh(), bodies(full := full_r.store.current)
        assert bodies(r.store.current) == want, (seed, step, "writer")
        assert bodies(SnapshotStore(config.cache_path).load(config)) == want, (seed, step, "worker")
        assert (sorted(report.added), sorted(report.removed), sorted(report.changed)) == (
            sorted((now := full.entry_digests).keys() - digests), sorted(digests.keys() - now),
            sorted(i for i in now if i in digests and now[i] != digests[i])), (seed, step, "report")
        digests = now
        assert sorted(map(str, report.problems)) == sorted(map(str, full_report.problems)), (seed, step)
        assert r.wait_saved(10)
        with sqlite3.connect(config.cache_path / "entries.sqlite") as db:
            assert {row[0] for row in db.execute("SELECT path FROM entries")} == present(), (seed, step, "store")
        if rng.random() < 0.08:                   # a restart: from the snapshot on disk and the entry store
            r, watch = new_refresher(config, clock=clock), Told()
            r.watch = watch
