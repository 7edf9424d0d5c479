"""WebSub: discovery in every format, and publish notifications to a real hub on 127.0.0.1."""
from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qs

import pytest
from lxml import etree
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from feedsvc.app import get_app_service
from feedsvc.websub import Notifier

from .conftest import BASE_URL
from .servers import free_port

ATOM = "http://www.w3.org/2005/Atom"


class Hub:
    """A WebSub hub that records publish requests; can fail or stall on demand."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0) -> None:
        self.requests: list[dict[str, list[str]]] = []
        self.fail_first = fail_first
        self.delay = delay
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", free_port(), self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hub"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @Request.application
    def app(self, request: Request) -> Response:
        time.sleep(self.delay)
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return Response("try later", status=503)
            self.requests.append(parse_qs(request.get_data(as_text=True)))
        return Response(status=204)

    def topics(self) -> list[str]:
        with self.lock:
            return sorted(r["hub.topic"][0] for r in self.requests)

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def hub():
    h = Hub()
    yield h
    h.stop()


@pytest.fixture
def site(write_entry):
    write_entry("a.md", {"title": "Alpha", "date": "2025-07-01T00:00:00Z", "categories": ["Science"]})
    write_entry("b.md", {"title": "Beta", "date": "2025-07-02T00:00:00Z", "categories": ["Politics"]})


def test_every_feed_advertises_the_hub_and_its_self_url(site, hub, make_app):
    client = make_app(websub={"hubs": [hub.url]}).test_client()
    r = client.get("/categories/science/feed.atom")
    assert r.headers.getlist("Link") == [f'<{hub.url}>; rel="hub"',
                                         f'<{BASE_URL}/categories/science/feed.atom>; rel="self"']
    atom = etree.fromstring(r.data)
    assert [l.get("href") for l in atom.findall(f"{{{ATOM}}}link[@rel='hub']")] == [hub.url]
    rss = etree.fromstring(client.get("/feed.rss").data).find("channel")
    assert [l.get("href") for l in rss.findall(f"{{{ATOM}}}link[@rel='hub']")] == [hub.url]
    assert json.loads(client.get("/feed.json").data)["hubs"] == [{"type": "WebSub", "url": hub.url}]


def test_no_hub_no_advertising(site, make_app):
    client = make_app().test_client()
    r = client.get("/feed.atom")
    assert "Link" not in r.headers
    assert etree.fromstring(r.data).find(f"{{{ATOM}}}link[@rel='hub']") is None
    assert "hubs" not in json.loads(client.get("/feed.json").data)


def test_one_publish_per_changed_feed_and_none_for_unchanged(site, hub, make_app, write_entry):
    app = make_app(websub={"hubs": [hub.url]})
    service = get_app_service(app)
    assert service.notifier.wait_idle(10)
    with hub.lock:
        hub.requests.clear()
    write_entry("a.md", {"title": "Alpha, revised", "date": "2025-07-01T00:00:00Z", "categories": ["Science"]})
    report = service.refresh()
    assert service.notifier.wait_idle(10)
    expected = sorted(f"{BASE_URL}{p}/feed.{f}" for p in ("", "/categories/science") for f in ("rss", "atom", "json"))
    assert hub.topics() == expected == sorted(BASE_URL + f.path for f in report.changed_feeds)
    for r in hub.requests:
        assert r["hub.mode"] == ["publish"] and r["hub.url"] == r["hub.topic"]
    with hub.lock:
        hub.requests.clear()
    service.refresh()                       # nothing changed
    assert service.notifier.wait_idle(10) and hub.topics() == []


def test_a_failing_hub_is_retried_with_backoff():
    h = Hub(fail_first=2)
    try:
        n = Notifier((h.url,), timeout=2, retries=3, backoff=0.05)
        n.publish(["https://news.example.org/feed.atom"])
        assert n.wait_idle(10)
        assert h.topics() == ["https://news.example.org/feed.atom"]
        assert n.status()[0]["sent"] == 1 and n.status()[0]["failed"] == 0
        n.close()
    finally:
        h.stop()


def test_an_unreachable_hub_costs_the_refresh_nothing_and_is_reported(write_entry, make_app, monkeypatch):
    import functools

    import feedsvc.service
    monkeypatch.setattr(feedsvc.service, "Notifier", functools.partial(Notifier, backoff=0.01))
    write_entry("a.md", {"title": "Alpha", "date": "2025-07-01T00:00:00Z"})
    dead = f"http://127.0.0.1:{free_port()}/hub"   # nothing listens there
    slow = Hub(delay=1.5)                            # answers after the 1 s timeout
    try:
        app = make_app(websub={"hubs": [dead, slow.url], "timeout_seconds": 1, "retries": 0})
        service = get_app_service(app)
        write_entry("c.md", {"title": "Gamma", "date": "2025-07-03T00:00:00Z"})
        started = time.monotonic()
        report = service.refresh()
        assert report.ok and time.monotonic() - started < 1.0   # delivery is in the background
        assert service.notifier.wait_idle(30)
        states = {s["url"]: s for s in service.notifier.status()}
        assert states[dead]["failed"] > 0 and states[dead]["sent"] == 0 and states[dead]["last_error"]
        assert states[slow.url]["failed"] > 0 and "timed out" in states[slow.url]["last_error"]
        status = app.test_client().get("/status").get_json()
        assert {s["url"] for s in status["websub"]} == {dead, slow.url}
        metrics = app.test_client().get("/metrics").get_data(as_text=True)
        assert f'feedsvc_websub_notifications_total{{hub="{dead}",outcome="failed"}}' in metrics
    finally:
        slow.stop()


def test_a_topic_waiting_for_a_hub_is_not_queued_twice():
    h = Hub(delay=0.5)
    try:
        n = Notifier((h.url,), timeout=5, retries=0)
        assert n.publish(["t1", "t2"]) == 2
        time.sleep(0.1)                       # t1 is being delivered, t2 waits
        assert n.publish(["t1", "t2"]) == 1   # t1 again (in flight), t2 already waiting
        assert n.wait_idle(10)
        assert sorted(h.topics()) == ["t1", "t1", "t2"]
        n.close()
    finally:
        h.stop()


def test_admin_refresh_answer_includes_the_hubs_state(site, hub, make_config, clock):
    import dataclasses

    from feedsvc.app import create_app
    config = dataclasses.replace(make_config(websub={"hubs": [hub.url]}), admin_token="t")
    app = create_app(config, clock=clock)
    body = app.test_client().post("/admin/refresh", headers={"Authorization": "Bearer t"}).get_json()
    assert body["websub"][0]["url"] == hub.url


def test_every_change_of_the_hubs_state_is_handed_on_and_a_failure_to_do_so_stops_nothing(caplog):
    h = Hub()
    states = []

    def share(state):
        states.append(state)
        if len(states) == 1:
            raise OSError("No space left on device")

    try:
        n = Notifier((h.url,), timeout=2, retries=0, on_change=share)
        assert n.changed_at is None
        n.publish(["t1"])
        assert n.wait_idle(10)
        deadline = time.monotonic() + 5
        while len(states) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert h.topics() == ["t1"] and n.status()[0]["sent"] == 1
        assert states[0][0]["queued"] == 1 or states[0][0]["sent"] == 1
        assert states[-1] == n.status() and states[-1][0]["queued"] == 0
        assert n.changed_at is not None
        assert "No space left on device" in caplog.text
        n.close()
    finally:
        h.stop()


def test_hubs_are_told_once_the_workers_can_have_switched_to_the_last_refreshs_bytes():
    posted: list[float] = []
    n = Notifier(("https://hub.example",), timeout=2, retries=0, settle=0.4,
                 post=lambda url, body, timeout: posted.append(time.monotonic()) or 204)
    try:
        n.publish(["https://news.example.org/feed.atom"])
        assert n.status()[0]["queued"] == 1 and posted == []
        time.sleep(0.2)
        second = time.monotonic()
        assert n.publish(["https://news.example.org/feed.atom"]) == 0          # still one notice
        assert n.wait_idle(5)
        assert len(posted) == 1 and posted[0] - second >= 0.4
    finally:
        n.close()


def test_a_service_with_a_cache_folder_waits_for_its_workers_before_telling_hubs(site, hub, make_app):
    from feedsvc.service import HUB_SETTLE_SECONDS
    from feedsvc.refresher import POLL_SECONDS

    service = get_app_service(make_app(websub={"hubs": [hub.url]}))
    assert service.store.disk is not None and service.notifier.settle == HUB_SETTLE_SECONDS > 2 * POLL_SECONDS


def test_a_burst_of_deliveries_is_shared_a_few_times_and_always_at_its_end():
    shared = []
    n = Notifier(("https://hub-a.example", "https://hub-b.example"), timeout=2, retries=0,
                 post=lambda url, body, timeout: 204, on_change=lambda state: shared.append(state) or time.sleep(0.002))
    try:
        n.publish([f"https://news.example.org/t{i}" for i in range(300)])
        assert n.wait_idle(20)
        deadline = time.monotonic() + 5
        while shared[-1] != n.status() and time.monotonic() < deadline:
            time.sleep(0.01)
        # Each share is a file written and synced: not one per delivery, 600 here.
        assert len(shared) < 100
        assert shared[-1] == n.status() and {h["sent"] for h in shared[-1]} == {300}
        assert {h["queued"] for h in shared[-1]} == {0}
    finally:
        n.close()


def test_a_process_that_notified_nothing_shows_what_the_notifying_one_shared(site, hub, make_app, write_entry):
    import os

    app = make_app(websub={"hubs": [hub.url]})
    service = get_app_service(app)
    assert service.notifier.wait_idle(10)
    disk = service.store.disk
    deadline = time.monotonic() + 5
    while (disk.read_websub() or {}).get("hubs") != service.notifier.status() and time.monotonic() < deadline:
        time.sleep(0.01)
    shared = disk.read_websub()
    assert shared["pid"] == os.getpid() and shared["hubs"] == service.notifier.status()
    assert shared["hubs"][0]["sent"] >= 1

    other = {"pid": 999999, "written": time.time() + 1,   # newer than anything this process did
             "hubs": [{**shared["hubs"][0], "sent": 42}]}
    disk.write_websub(other)
    s = app.test_client().get("/status").get_json()
    assert s["websub"][0]["sent"] == 42 and s["websub_by_pid"] == 999999

    disk.write_websub({**other, "hubs": [{**other["hubs"][0], "url": "https://elsewhere.example/hub"}]})
    s = app.test_client().get("/status").get_json()
    assert s["websub"] == service.notifier.status() and s["websub_by_pid"] == os.getpid()

    disk.write_websub({**other, "written": time.time() - 3600})   # older than this process's own change
    s = app.test_client().get("/status").get_json()
    assert s["websub"] == service.notifier.status() and s["websub_by_pid"] == os.getpid()


def test_without_a_cache_folder_a_process_shows_its_own_hubs_state(site, hub, make_config, clock):
    import dataclasses
    import os

    from feedsvc.app import create_app
    config = dataclasses.replace(make_config(websub={"hubs": [hub.url]}), cache_path=None)
    app = create_app(config, clock=clock)
    service = get_app_service(app)
    assert service.notifier.on_change is None and service.notifier.wait_idle(10)
    s = app.test_client().get("/status").get_json()
    assert s["websub"] == service.notifier.status() and s["websub_by_pid"] == os.getpid()
    assert s["websub"][0]["sent"] >= 1
