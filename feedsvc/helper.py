"""Running a share of CPU-bound work in a helper interpreter.

Parsing and rendering are Python holding the GIL, so large jobs use helper
processes. They are fresh interpreters (``python -m feedsvc.helper``) rather
than forks: the service forks from threads (server, scheduler), where a lock
held by another thread at fork time can hang the child. Each request is a
module-level function and its argument, pickled (the function by name) over
a pipe, one length-prefixed frame each way; a helper that fails for any
reason raises here, and the caller does that work itself, so a helper never
costs anything but time.

A helper takes ~0.4 s to start and import what it needs, time in which the
caller works alone. Within ``kept_warm`` (a refresh), a helper done with one
phase's work waits for the next instead of exiting (the parse's helpers
render), and ``prestart`` begins helpers while the caller still prepares
their work (a large first walk of the entries folder).
"""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any, Callable, Generic, Iterator, TypeVar

log = logging.getLogger("feedsvc.helper")
P = TypeVar("P")
R = TypeVar("R")
# A helper that runs this long is stuck, not busy (a 100k-entry site's whole
# build takes under a minute here): the caller takes its work back.
TIMEOUT_SECONDS = 900


class HelperFailed(Exception):
    pass


def cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        return os.cpu_count() or 1


class Session:
    """One helper interpreter (``python -m feedsvc.helper``) answering requests in turn.

    Callers that share work with a helper ask it for a small piece at a time,
    so that whichever process is faster takes more pieces: a fixed half made
    the last process to finish (usually the helper, which starts later) the
    one everybody waited for. A failed request raises HelperFailed and ends
    the session; its piece is the caller's to do.
    """

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ,
                   PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
        # What it logs goes to a file, read at the end: a pipe nobody reads
        # while it works would fill up and stop it.
        self._err = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "feedsvc.helper"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._err, env=env)
        except Exception as e:   # no interpreter
            self._err.close()
            raise HelperFailed(f"{type(e).__name__}: {e}") from None
        # A helper that runs this long is stuck, not busy: the caller takes its work back.
        self._watchdog = threading.Timer(TIMEOUT_SECONDS, self.proc.kill)
        self._watchdog.daemon = True
        self._watchdog.start()
        self._failed = False

    def ask(self, work: Callable[[Any], Any], payload: Any) -> Any:
        """``work(payload)``, run by the helper: ``work`` is a module-level function,
        sent by name and imported there."""
        if self._failed:
            raise HelperFailed("an earlier request failed")
        try:
            data = pickle.dumps((work, payload), pickle.HIGHEST_PROTOCOL)
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(_FRAME.pack(len(data)) + data)
            self.proc.stdin.flush()
            size = _FRAME.unpack(_read(self.proc.stdout, _FRAME.size))[0]
            return pickle.loads(_read(self.proc.stdout, size))
        except Exception as e:   # a payload that cannot be pickled, a helper that died, an unreadable answer
            self._failed = True
            self.proc.kill()
            self.proc.wait()
            raise HelperFailed(self._why(e)) from None

    def close(self) -> None:
        """Let the helper end (it exits when its input does) and pass on what it logged."""
        self._watchdog.cancel()
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        said = self._said()
        if said and not self._failed:
            # What the helper logged (an entry body published as text, say) is
            # the operator's to see, as if this process had done the work.
            log.warning("helper %d:\n%s", self.proc.pid, said)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _said(self) -> str:
        try:
            self._err.seek(0)
            return self._err.read().decode(errors="replace").strip()
        finally:
            self._err.close()

    def _why(self, e: Exception) -> str:
        code = self.proc.returncode
        if isinstance(e, (EOFError, BrokenPipeError)) and code is not None:
            self._err.seek(0)
            return f"exit {code}: {self._err.read().decode(errors='replace')[-500:]}"
        return f"{type(e).__name__}: {e}"


_FRAME = struct.Struct("!Q")


def _read(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError(f"the helper ended after {len(data)} of {n} bytes")
    return data


class Pieces(Generic[P, R]):
    """Pieces of work that this process and helpers take in turn, results in piece order.

    Taking turns, not halves, is what lets each do as much as its speed
    allows. A piece a helper fails on is given back and taken again.
    """

    def __init__(self, pieces: list[P]) -> None:
        self.pieces = pieces
        self._results: list[R | None] = [None] * len(pieces)
        self._next = list(range(len(pieces)))[::-1]
        self._lock = threading.Lock()

    def _take(self) -> int | None:
        with self._lock:
            return self._next.pop() if self._next else None

    def work(self, do: Callable[[P], R]) -> None:
        """Do pieces here until none is left."""
        while (i := self._take()) is not None:
            self._results[i] = do(self.pieces[i])

    def work_in_helper(self, ask: Callable[[Session, P], R],
                       started: Callable[[subprocess.Popen[bytes]], None] | None = None) -> None:
        """Have a helper do pieces until none is left; HelperFailed once it fails
        (the piece it held is given back). No helper is taken if none is left."""
        i = self._take()
        if i is None:
            return
        try:
            session = _take_idle() or Session()
        except BaseException:
            with self._lock:
                self._next.append(i)
            raise
        if started is not None:
            started(session.proc)
        try:
            while i is not None:
                self._results[i] = ask(session, self.pieces[i])
                i = self._take()
        except BaseException:
            if i is not None:
                with self._lock:
                    self._next.append(i)
            session.close()
            raise
        _release(session)

    def results(self) -> list[R]:
        """Every piece's result, in order (after every piece is done)."""
        assert all(r is not None for r in self._results), "pieces left undone"
        return self._results   # type: ignore[return-value]


# Helpers kept between the phases of the work inside ``kept_warm`` blocks.
_idle: list[Session] = []
_warm = 0
_pool_lock = threading.Lock()


@contextlib.contextmanager
def kept_warm() -> Iterator[None]:
    """Inside, a helper done with its pieces waits for more instead of exiting;
    the last block to end stops those still waiting."""
    global _warm
    with _pool_lock:
        _warm += 1
    try:
        yield
    finally:
        with _pool_lock:
            _warm -= 1
            done = list(_idle) if _warm == 0 else []
            if _warm == 0:
                _idle.clear()
        for session in done:
            session.close()


def prestart(n: int) -> None:
    """Start helpers until ``n`` wait for work that follows in this ``kept_warm``
    block (outside one, none: nothing would stop them)."""
    while True:
        with _pool_lock:
            if not _warm or len(_idle) >= n:
                return
        try:
            session = Session()
        except HelperFailed:
            return   # the work will be done here
        with _pool_lock:
            keep = _warm and len(_idle) < n
            if keep:
                _idle.append(session)
        if not keep:   # the block ended (or others filled it) while this one started
            session.close()
            return


def _take_idle() -> Session | None:
    with _pool_lock:
        return _idle.pop() if _idle else None


def _release(session: Session) -> None:
    with _pool_lock:
        if _warm and not session._failed and session.proc.poll() is None:
            _idle.append(session)
            return
    session.close()


def serve() -> None:
    """The helper's side: each request from stdin answered on stdout, until stdin ends."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = stdin.read(_FRAME.size)
        if not head:
            return
        work, payload = pickle.loads(_read(stdin, _FRAME.unpack(head)[0]))
        data = pickle.dumps(work(payload), protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(_FRAME.pack(len(data)) + data)
        stdout.flush()


if __name__ == "__main__":
    serve()
