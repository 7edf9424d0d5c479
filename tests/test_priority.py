"""Work behind requests gives way to them: thread priority and GIL switch interval.

Every block runs in a thread of its own: a thread once lowered stays lowered.
The interval is the process's: an entry-store save left running by an earlier
test holds it too, so the tests start and end when no such work runs.
"""
from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from feedsvc import priority
from feedsvc.priority import BEHIND_SWITCH_SECONDS, behind_requests


def quiet() -> float:
    """Wait until no work runs behind requests; the switch interval then."""
    deadline = time.monotonic() + 10
    while priority._behind_depth and time.monotonic() < deadline:
        time.sleep(0.01)
    assert priority._behind_depth == 0
    return sys.getswitchinterval()


def in_thread(fn):
    t = threading.Thread(target=fn)
    t.start()
    t.join(5)
    assert not t.is_alive()


def test_the_gil_changes_hands_sooner_only_while_work_runs_behind_requests():
    before, inside = quiet(), []

    def work():
        with behind_requests():
            inside.append(sys.getswitchinterval())

    in_thread(work)
    assert inside == [BEHIND_SWITCH_SECONDS] and BEHIND_SWITCH_SECONDS < before
    assert quiet() == before


def test_overlapping_blocks_restore_the_interval_once_the_last_one_ends():
    before = quiet()
    first_in, second_done, seen = threading.Event(), threading.Event(), []

    def first():
        with behind_requests():
            first_in.set()
            second_done.wait(5)

    def second():
        with behind_requests():
            pass
        seen.append(sys.getswitchinterval())     # the first block still runs

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(5)
    in_thread(second)
    second_done.set()
    t.join(5)
    assert seen == [BEHIND_SWITCH_SECONDS] and quiet() == before


def test_the_working_thread_runs_at_lower_priority_than_the_others():
    if not sys.platform.startswith("linux"):
        pytest.skip("thread priorities are Linux's")
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    got = []

    def work():
        with behind_requests():
            got.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    in_thread(work)
    assert got and got[0] >= 10
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine   # this thread untouched
