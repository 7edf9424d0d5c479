"""Helper interpreters: the answer comes back, and so does what they logged."""
from __future__ import annotations

import sys

import pytest

from feedsvc import helper
from tests.helper_echo import echo, fail


def test_a_helper_answers_with_its_work_and_its_warnings_reach_this_log(caplog):
    with helper.Session() as session:
        assert session.ask(echo, {"feeds": ["/feed.atom"]}) == {"feeds": ["/feed.atom"]}
    assert "noted {'feeds': ['/feed.atom']}" in caplog.text


def test_work_the_helper_cannot_import_raises_helper_failed_with_its_reason(tmp_path, monkeypatch):
    (tmp_path / "only_here.py").write_text("def work(payload):\n    return payload\n")
    monkeypatch.syspath_prepend(str(tmp_path))   # importable here, not in the helper
    from only_here import work
    with pytest.raises(helper.HelperFailed, match="No module named 'only_here'"):
        with helper.Session() as session:
            session.ask(work, None)


def test_work_that_raises_in_the_helper_raises_helper_failed_with_its_reason():
    with pytest.raises(helper.HelperFailed, match="cannot do 7"):
        with helper.Session() as session:
            session.ask(fail, 7)


def test_one_helper_answers_many_requests_in_turn(caplog):
    with helper.Session() as session:
        assert [session.ask(echo, n) for n in (1, [2, "two"], {"three": 3})] == [1, [2, "two"], {"three": 3}]
        pid = session.proc.pid
    assert session.proc.returncode == 0 and pid
    assert "noted 1" in caplog.text and "noted {'three': 3}" in caplog.text


def test_pieces_are_shared_between_this_process_and_a_helper_in_order():
    pieces = helper.Pieces([[n] for n in range(30)])
    pieces.work_in_helper(lambda session, piece: session.ask(echo, piece) + ["helper"])
    pieces.work(lambda piece: piece + ["here"])
    assert [r[0] for r in pieces.results()] == list(range(30))
    assert {r[1] for r in pieces.results()} == {"helper"}     # nothing was left for this process


def test_a_piece_a_helper_fails_on_is_given_back(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")
    pieces = helper.Pieces([1, 2, 3])
    with pytest.raises(helper.HelperFailed, match="exit 1"):
        pieces.work_in_helper(lambda session, piece: session.ask(echo, piece))
    pieces.work(lambda piece: piece * 10)
    assert pieces.results() == [10, 20, 30]


def _pids(pieces: helper.Pieces) -> set[int]:
    seen: set[int] = set()
    pieces.work_in_helper(lambda session, piece: seen.add(session.proc.pid) or session.ask(echo, piece))
    return seen


def test_inside_kept_warm_the_next_work_reuses_the_helper_and_it_ends_with_the_block():
    with helper.kept_warm():
        first = _pids(helper.Pieces([1, 2]))
        second = _pids(helper.Pieces([3, 4]))
        assert first == second and len(first) == 1
        idle = list(helper._idle)
        assert [s.proc.pid for s in idle] == list(first)
    assert helper._idle == [] and idle[0].proc.returncode == 0   # stopped, as a helper ends: input closed


def test_outside_kept_warm_a_helper_ends_with_its_work():
    first = _pids(helper.Pieces([1]))
    second = _pids(helper.Pieces([2]))
    assert first != second and helper._idle == []


def test_a_prestarted_helper_does_the_work_that_follows():
    with helper.kept_warm():
        helper.prestart(1)
        helper.prestart(1)                                   # already there: none more
        assert len(helper._idle) == 1
        waiting = helper._idle[0].proc.pid
        assert _pids(helper.Pieces([1, 2])) == {waiting}
    helper.prestart(1)                                       # nothing would stop it: none
    assert helper._idle == []


def test_a_helper_that_failed_is_not_kept(monkeypatch):
    with helper.kept_warm():
        pieces = helper.Pieces([1, 2])
        with pytest.raises(helper.HelperFailed, match="cannot do 1"):
            pieces.work_in_helper(lambda session, piece: session.ask(fail, piece))
        assert helper._idle == []
        assert _pids(helper.Pieces([3])) != set()            # a new one takes the next work


def test_a_helper_prestarted_as_its_block_ends_is_stopped_not_left_waiting(monkeypatch):
    import threading
    gate, spawned = threading.Event(), []
    real = helper.Session.__init__

    def slow_start(self):
        real(self)
        spawned.append(self)
        gate.wait(10)                       # the block ends while this helper starts

    monkeypatch.setattr(helper.Session, "__init__", slow_start)
    with helper.kept_warm():
        t = threading.Thread(target=helper.prestart, args=(1,))
        t.start()
        while not spawned:
            threading.Event().wait(0.01)
    gate.set()
    t.join(10)
    assert helper._idle == [] and spawned[0].proc.wait(10) == 0
