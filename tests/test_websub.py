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
