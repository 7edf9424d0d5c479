"""Helper interpreters: the answer comes back, and so does what they logged."""
from __future__ import annotations

import sys

import pytest

from feedsvc import helper


def test_a_helper_answers_with_its_work_and_its_warnings_reach_this_log(caplog):
    with helper.Session("tests.helper_echo") as session:
        assert session.ask({"feeds": ["/feed.atom"]}) == {"feeds": ["/feed.atom"]}
    assert "noted {'feeds': ['/feed.atom']}" in caplog.text


def test_a_helper_that_cannot_run_raises_helper_failed_with_its_reason():
    with pytest.raises(helper.HelperFailed, match="No module named"):
        with helper.Session("tests.no_such_helper") as session:
            session.ask(None)


def test_one_helper_answers_many_requests_in_turn(caplog):
    with helper.Session("tests.helper_echo") as session:
        assert [session.ask(n) for n in (1, [2, "two"], {"three": 3})] == [1, [2, "two"], {"three": 3}]
        pid = session.proc.pid
    assert session.proc.returncode == 0 and pid
    assert "noted 1" in caplog.text and "noted {'three': 3}" in caplog.text


def test_pieces_are_shared_between_this_process_and_a_helper_in_order():
    pieces = helper.Pieces([[n] for n in range(30)])
    pieces.work_in_helper("tests.helper_echo", lambda session, piece: session.ask(piece) + ["helper"])
    pieces.work(lambda piece: piece + ["here"])
    assert [r[0] for r in pieces.results()] == list(range(30))
    assert {r[1] for r in pieces.results()} == {"helper"}     # nothing was left for this process


def test_a_piece_a_helper_fails_on_is_given_back(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")
    pieces = helper.Pieces([1, 2, 3])
    with pytest.raises(helper.HelperFailed, match="exit 1"):
        pieces.work_in_helper("tests.helper_echo", lambda session, piece: session.ask(piece))
    pieces.work(lambda piece: piece * 10)
    assert pieces.results() == [10, 20, 30]
