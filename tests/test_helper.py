"""Helper interpreters: the answer comes back, and so does what they logged."""
from __future__ import annotations

import pytest

from feedsvc import helper


def test_a_helper_answers_with_its_work_and_its_warnings_reach_this_log(caplog):
    assert helper.call("tests.helper_echo", {"feeds": ["/feed.atom"]}) == {"feeds": ["/feed.atom"]}
    assert "noted {'feeds': ['/feed.atom']}" in caplog.text


def test_a_helper_that_cannot_run_raises_helper_failed_with_its_reason():
    with pytest.raises(helper.HelperFailed, match="No module named"):
        helper.call("tests.no_such_helper", None)
