"""feedsvc check, export and refresh as an operator runs them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedsvc.cli import cli

from .servers import ROOT, Server, feedsvc
from .test_server import write, write_config

TOKEN = "cli-token"


@pytest.fixture
def cfg(tmp_path):
    cfg = write_config(tmp_path)
    write(tmp_path, "a.md", "Alpha", "2025-07-01T00:00:00Z")
    write(tmp_path, "b.md", "Beta", "2025-07-02T00:00:00Z", cats="Science")
    return cfg


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_the_command_line_loads_no_renderer_until_a_command_runs_one():
    # `feedsvc serve`'s main process only starts the server: what it imports
    # before that delays every worker's start.
    heavy = ("feedgen", "lxml", "cmarkgfm", "jinja2", "yaml", "feedsvc.refresher", "feedsvc.site")
    code = f"import sys, feedsvc.cli; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_check_is_clean_on_good_entries(cfg):
    r = run("check", "--config", str(cfg))
    assert r.exit_code == 0, r.output
    assert "2 files: 2 published" in r.output and "0 error(s)" in r.output


def test_check_reports_path_line_field_and_reason_and_exits_1(cfg, tmp_path):
    (tmp_path / "entries" / "bad.md").write_text("---\ntitle: ok\ndate: [1\n---\nx\n", encoding="utf-8")
    (tmp_path / "entries" / "nodate.md").write_text("---\ntitle: ok\n---\nx\n", encoding="utf-8")
    r = run("check", "--config", str(cfg), "--json")
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert out["ok"] is False and out["published"] == 2 and out["errors"] == 2
    errors = {p["path"]: p for p in out["problems"] if p["severity"] == "error"}
    assert errors["bad.md"]["field"] == "front matter" and errors["bad.md"]["line"] >= 3
    assert errors["nodate.md"]["field"] == "date" and "required" in errors["nodate.md"]["message"]
    text = run("check", "--config", str(cfg))
    assert "nodate.md: error: date: required" in text.output


def test_check_json_answers_json_for_a_config_error_too(cfg, tmp_path):
    (tmp_path / "entries").rename(tmp_path / "elsewhere")
    r = CliRunner().invoke(cli, ["check", "--config", str(cfg), "--json"])
    assert r.exit_code == 2
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["config_error"]["key"] == "entries.path"


@pytest.mark.parametrize("command, code", [(["check"], 2), (["export", "OUT"], 1)])
def test_a_missing_entries_folder_is_one_line_naming_it_not_a_trace(cfg, tmp_path, command, code):
    (tmp_path / "entries").rename(tmp_path / "elsewhere")
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    r = CliRunner().invoke(cli, [*args, "--config", str(cfg)])
    assert r.exit_code == code and isinstance(r.exception, SystemExit)
    (line,) = r.output.strip().splitlines()
    assert "entries.path" in line and "does not exist" in line


def test_check_warns_about_what_readers_would_notice(cfg, tmp_path):
    long = "Word " * 120
    (tmp_path / "entries" / "long.md").write_text(
        f"---\ntitle: Long\ndate: 2025-07-03T00:00:00Z\n---\n{long}\n\nSee [this](../x/) too.\n", encoding="utf-8")
    (tmp_path / "entries" / "twin.md").write_text(
        "---\ntitle: alpha\ndate: 2025-07-01T08:00:00Z\n---\nx\n", encoding="utf-8")
    (tmp_path / "entries" / "later.md").write_text(
        "---\ntitle: Later\ndate: 2099-01-01T00:00:00Z\n---\nx\n", encoding="utf-8")
    (tmp_path / "entries" / "ahead.md").write_text(
        "---\ntitle: Ahead\ndate: 2025-07-02T00:00:00Z\nupdated: 2099-01-01T00:00:00Z\n---\nx\n", encoding="utf-8")
    r = run("check", "--config", str(cfg), "--json")
    assert r.exit_code == 0, r.output
    warnings = {(p["path"], p["field"]) for p in json.loads(r.output)["problems"] if p["severity"] == "warning"}
    assert ("long.md", "summary") in warnings
    assert ("long.md", "body") in warnings          # a relative link it made absolute
    assert ("twin.md", "title") in warnings         # same title, same day as a.md
    assert ("later.md", "date") in warnings         # dated in the future
    assert ("ahead.md", "updated") in warnings      # published, updated in the future


@pytest.mark.parametrize(("base_url", "link", "warned"), [
    ("https://news.example.org", "", ["../notes/"]),
    ("https://news.example.org/", "https://news.example.org/elsewhere/", ["../notes/"]),
    ("https://example.org/news", "", ["/articles/b/", "../notes/"]),                 # leaves /news
    ("https://news.example.org", "https://other.example/story/", ["/articles/b/", "../notes/"]),  # another host
])
def test_check_lists_a_link_from_the_root_only_where_it_leads_off_the_site(cfg, tmp_path, monkeypatch, base_url,
                                                                            link, warned):
    monkeypatch.setenv("FEEDSVC_SITE_BASE_URL", base_url)
    (tmp_path / "entries" / "links.md").write_text(
        f"---\ntitle: Links\ndate: 2025-07-03T00:00:00Z\n{f'link: {link}' if link else ''}\n---\n"
        "See [b](/articles/b/) and [notes](../notes/).\n", encoding="utf-8")
    r = run("check", "--config", str(cfg), "--json")
    bodies = [p["message"] for p in json.loads(r.output)["problems"] if (p["path"], p["field"]) == ("links.md", "body")]
    against = link or base_url.rstrip("/") + "/articles/links/"
    assert bodies == [f"{len(warned)} relative link(s) made absolute against {against}: {', '.join(warned)}"]


def test_check_reads_a_link_as_a_browser_does_tabs_and_all(cfg, tmp_path):
    (tmp_path / "entries" / "tabs.md").write_text(
        "---\ntitle: Tabs\ndate: 2025-07-03T00:00:00Z\n---\n"
        '<a href="/\t/evil.example/">x</a> <a href="..&#9;/notes/">n</a>\n', encoding="utf-8")
    r = run("check", "--config", str(cfg), "--json")
    (body,) = [p for p in json.loads(r.output)["problems"] if (p["path"], p["field"]) == ("tabs.md", "body")]
    assert body["message"].endswith(": ../notes/")      # "//evil.example/" is another host, not a relative link


def test_check_lists_as_made_absolute_only_relative_links_that_are_published(cfg, tmp_path):
    (tmp_path / "entries" / "raw.md").write_text(
        "---\ntitle: Raw\ndate: 2025-07-03T00:00:00Z\n---\n"
        '<a href=" javascript:alert(1)">x</a> <a href="\thttps://example.com/">y</a> [z](#top)\n\n'
        '<a href=" ../notes/ ">n</a> <script src="tracker.js"></script> <iframe src="embed/"></iframe>\n',
        encoding="utf-8")
    r = run("check", "--config", str(cfg), "--json")
    (body,) = [p for p in json.loads(r.output)["problems"] if (p["path"], p["field"]) == ("raw.md", "body")]
    assert body["message"].startswith("1 relative link(s) made absolute")
    assert body["message"].endswith(": ../notes/")


def test_check_warns_of_references_to_characters_xml_cannot_carry(cfg, tmp_path):
    (tmp_path / "entries" / "refs.md").write_text(
        "---\ntitle: Refs\ndate: 2025-07-03T00:00:00Z\n---\nA &#x1; B &#8; C &#1; D `&#2;` <b>&#3;</b> &#xFFFE;\n", encoding="utf-8")
    r = run("check", "--config", str(cfg), "--json")
    (body,) = [p for p in json.loads(r.output)["problems"] if (p["path"], p["field"]) == ("refs.md", "body")]
    assert body["severity"] == "warning"
    assert body["message"] == ("removed 5 character reference(s) to characters XML cannot carry "
                               "(U+0001, U+0008, U+0003, ...)")


def test_check_warns_about_feeds_over_a_megabyte(tmp_path):
    cfg = write_config(tmp_path)
    big = ("Lorem ipsum dolor sit amet. " * 2000 + "\n\n") * 2
    for i in range(10):
        (tmp_path / "entries" / f"big{i}.md").write_text(
            f"---\ntitle: Big {i}\ndate: 2025-07-0{i % 9 + 1}T00:00:00Z\nsummary: s\n---\n{big}", encoding="utf-8")
    out = json.loads(run("check", "--config", str(cfg), "--json").output)
    assert {p["path"] for p in out["problems"] if p["field"] == "feed"} >= {"/feed.rss", "/feed.atom", "/feed.json"}


def test_export_writes_the_bytes_the_server_sends(cfg, tmp_path):
    out = tmp_path / "site"
    r = run("export", str(out), "--config", str(cfg))
    assert r.exit_code == 0, r.output
    server = Server(feedsvc("serve", "--config", str(cfg), "--port", "{port}", "--workers", "1"))
    try:
        server.wait_ready()
        files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.suffix != ".gz"}
        assert {"index.html", "feed.rss", "feed.atom", "feed.json", "opml.xml", "style.css", "feed.css",
                "categories/science/index.html", "categories/science/feed.atom", "articles/a/index.html",
                "articles/b/index.html"} <= files
        for rel in files:
            url = "/" + rel.removesuffix("index.html")
            resp = server.get(url, headers={"Accept-Encoding": "identity"})
            assert resp.status_code == 200, url
            assert (out / rel).read_bytes() == resp.content, rel
        gz = server.get("/feed.atom", headers={"Accept-Encoding": "gzip"}, stream=True).raw.read(decode_content=False)
        assert (out / "feed.atom.gz").read_bytes() == gz
    finally:
        server.stop()


def test_export_replaces_the_tree_in_one_switch(cfg, tmp_path):
    out = tmp_path / "site"
    assert run("export", str(out), "--config", str(cfg)).exit_code == 0
    first = out.resolve()
    write(tmp_path, "c.md", "Gamma", "2025-07-03T00:00:00Z")
    assert run("export", str(out), "--config", str(cfg)).exit_code == 0
    assert out.is_symlink() and out.resolve() != first and not first.exists()
    assert (out / "articles" / "c" / "index.html").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")]
    assert leftovers == [out.resolve().name]


def test_export_refuses_a_folder_with_files_in_it_and_leaves_them(cfg, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "keep.txt").write_text("somebody's")
    r = CliRunner().invoke(cli, ["export", str(out), "--config", str(cfg)])
    assert r.exit_code == 1 and "export refused" in r.output and "files in it" in r.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and not out.is_symlink()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site.")]      # nothing staged


def test_export_into_the_sites_own_folder_is_refused_and_takes_nothing(cfg, tmp_path, monkeypatch):
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["export", ".", "--config", str(cfg)])
    assert r.exit_code == 1 and "export refused" in r.output
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before


def test_export_removes_the_half_written_tree_a_killed_export_left_and_nothing_else(cfg, tmp_path):
    import fcntl

    from feedsvc.export import WRITING
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "www").symlink_to(real)                # the folder exported into is reached by a link
    out = tmp_path / "www" / "site"
    assert run("export", str(out), "--config", str(cfg)).exit_code == 0
    assert run("export", str(tmp_path / "www" / "site.2025"), "--config", str(cfg)).exit_code == 0
    published = out.resolve()
    killed = real / ".site.x1y2z3"                     # as a kill -9 leaves it: its lock is free
    (killed / "categories").mkdir(parents=True)
    (killed / WRITING).touch()
    running = real / ".site.a1b2c3"                     # an export at work: its lock is held
    running.mkdir()
    held = os.open(running / WRITING, os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    backup = real / ".site.20240101.bak"               # somebody's
    backup.mkdir()
    try:
        assert run("export", str(out), "--config", str(cfg)).exit_code == 0
    finally:
        os.close(held)
    assert not killed.exists() and running.exists() and backup.exists()
    assert (tmp_path / "www" / "site.2025" / "feed.rss").is_file(), "another export's tree is left alone"
    assert out.resolve() != published and not published.exists()   # the tree before is replaced as ever
    assert (out / "feed.rss").is_file() and not (out / WRITING).exists()


def test_an_export_stopped_by_sigterm_leaves_no_half_written_tree_and_no_service_wording(tmp_path):
    import signal
    import time
    cfg = write_config(tmp_path)
    for i in range(3000):
        write(tmp_path, f"e{i:04d}.md", f"Entry {i}", f"2025-07-{1 + i % 28:02d}T00:00:00Z", f"[Topic {i % 50}]")
    proc = subprocess.Popen(feedsvc("export", str(tmp_path / "site"), "--config", str(cfg)), cwd=ROOT,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".site.*")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.002)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    site = tmp_path / "site"
    published = site.resolve() if site.is_symlink() else None     # had it finished first
    assert [p.name for p in tmp_path.glob(".site.*") if p != published] == [], "the stage is removed, as on Ctrl-C"
    assert not site.exists() or site.is_symlink()
    (tmp_path / "entries").rename(tmp_path / "gone")
    r = subprocess.run(feedsvc("export", str(tmp_path / "site2"), "--config", str(cfg)), cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "entries.path" in r.stderr and "still serving" not in r.stderr


def test_export_fills_an_empty_folder_and_counts_the_gzip_files(cfg, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    r = run("export", str(out), "--config", str(cfg))
    assert r.exit_code == 0
    written = [p for p in out.rglob("*") if p.is_file()]
    assert f"wrote {len(written)} files" in r.output and any(p.suffix == ".gz" for p in written)
    assert (out / "feed.atom").is_file()
    # It became an export like any other: a link, which the next export replaces.
    assert out.is_symlink()
    assert run("export", str(out), "--config", str(cfg)).exit_code == 0 and (out / "feed.atom").is_file()


def test_export_that_fails_leaves_the_old_tree(cfg, tmp_path, monkeypatch):
    out = tmp_path / "site"
    assert run("export", str(out), "--config", str(cfg)).exit_code == 0
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    import feedsvc.export as ex
    real = Path.write_bytes
    calls = {"n": 0}

    def flaky(self, data):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    with pytest.raises(OSError):
        ex.export(_snapshot(cfg), out)
    monkeypatch.undo()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")] == [out.resolve().name]


def _snapshot(cfg):
    import dataclasses

    from feedsvc.config import load_config
    from feedsvc.refresher import new_refresher
    config = dataclasses.replace(load_config(cfg, {}), cache_path=None)
    r = new_refresher(config)
    r.refresh()
    return r.store.current


def test_refresh_command_prints_what_changed(cfg, tmp_path):
    env = {"FEEDSVC_ADMIN_TOKEN": TOKEN}
    server = Server(feedsvc("serve", "--config", str(cfg), "--port", "{port}", "--workers", "1"), env=env)
    try:
        server.wait_ready().wait_settled()
        write(tmp_path, "c.md", "Gamma", "2025-07-03T00:00:00Z")
        r = subprocess.run(feedsvc("refresh", "--url", server.base), capture_output=True, text=True, timeout=60,
                           env={**os.environ, **env}, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        assert "refresh ok" in r.stdout and "added: tag:news.example.org,2025-07-03:/articles/c/" in r.stdout
        assert "feeds changed: 6 of 9" in r.stdout  # the site and world-us-news feeds, 3 formats each
        bad = subprocess.run(feedsvc("refresh", "--url", server.base), capture_output=True, text=True,
                             timeout=60, env={**os.environ, "FEEDSVC_ADMIN_TOKEN": "nope"}, cwd=ROOT)
        assert bad.returncode == 1 and "401" in bad.stderr
    finally:
        server.stop()
    assert TOKEN not in server.output()


def test_refresh_command_fails_clearly_when_nothing_listens():
    from .servers import free_port
    r = subprocess.run(feedsvc("refresh", "--url", f"http://127.0.0.1:{free_port()}"), capture_output=True,
                       text=True, timeout=60, env={**os.environ, "FEEDSVC_ADMIN_TOKEN": "x"}, cwd=ROOT)
    assert r.returncode == 1 and "cannot reach" in r.stderr and "Traceback" not in r.stderr


def test_refresh_command_that_times_out_waiting_says_the_refresh_goes_on():
    import socket
    import threading
    with socket.socket() as listener:     # accepts, reads the request, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        held = []
        threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()
        r = subprocess.run(feedsvc("refresh", "--url", f"http://127.0.0.1:{port}", "--timeout", "0.5"),
                           capture_output=True, text=True, timeout=60, env={**os.environ, "FEEDSVC_ADMIN_TOKEN": "x"},
                           cwd=ROOT)
        for conn, _ in held:
            conn.close()
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "no answer from" in r.stderr and "within 0.5 s" in r.stderr and "cannot reach" not in r.stderr


@pytest.mark.parametrize(("given", "in_config"), [("0", 3), (None, 0)])
def test_zero_workers_means_one_per_core_from_the_command_line_or_the_config(cfg, monkeypatch, given, in_config):
    import feedsvc.cli as cli_module
    import feedsvc.server as server_module

    monkeypatch.setenv("FEEDSVC_SERVER_WORKERS", str(in_config))
    monkeypatch.setattr(cli_module, "default_workers", lambda: 5)
    seen = {}
    monkeypatch.setattr(server_module, "serve", lambda config, name, host, port, workers, threads, **k:
                        seen.update(workers=workers))
    r = run("serve", "--config", str(cfg), *(["--workers", given] if given else []))
    assert r.exit_code == 0, r.output
    assert seen == {"workers": 5}


def test_an_entry_file_changed_during_an_export_fails_it_in_one_line_and_replaces_nothing(cfg, tmp_path,
                                                                                           monkeypatch):
    import feedsvc.export as export_module

    out = tmp_path / "site"
    real = export_module.export

    def edit_then_export(snapshot, target, gzip=True):   # as if an author saved a file meanwhile
        (tmp_path / "entries" / "a.md").write_text("---\ntitle: Alpha, edited\ndate: 2025-07-01T00:00:00Z\n---\nx\n")
        return real(snapshot, target, gzip=gzip)

    monkeypatch.setattr(export_module, "export", edit_then_export)
    r = CliRunner().invoke(cli, ["export", str(out), "--config", str(cfg)])
    assert r.exit_code == 1
    assert "a.md changed since the feeds were published" in r.output and "Traceback" not in r.output
    assert not out.exists()
