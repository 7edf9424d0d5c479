"""The ``feedsvc`` command: serve, check, export, refresh."""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn

import click

from . import __version__
from .config import Config, load_config
from .errors import ConfigError, ExportError, FeedsvcError, ListenError, StaleEntry

# Each command imports what it runs when it runs: `feedsvc serve` starts its
# server's workers only once this module is imported, and the loading and
# rendering modules (with lxml, feedgen, cmark, Jinja) took 0.1-0.3 s there
# (warm or cold disk cache) that nothing in that process used.

EXIT_CONFIG = 2


def _fail_config(e: ConfigError) -> NoReturn:
    click.echo(f"feedsvc: configuration error: {e}", err=True)
    sys.exit(EXIT_CONFIG)


def _config(path: str | None) -> Config:
    try:
        return load_config(path, os.environ)
    except ConfigError as e:
        _fail_config(e)


def _usable_cache_folder(config: Config) -> None:
    """One line and exit 2 for a cache folder that cannot be made or written (a
    file, a read-only place), instead of a trace from every worker in turn."""
    path = config.cache_path
    if path is None:
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(13, "not writable")
    except OSError as e:
        _fail_config(ConfigError("cache.path", f"cannot use {path} as the cache folder: "
                                               f"{(e.strerror or str(e)).lower()}"))


def app_or_exit():  # type: ignore[no-untyped-def]
    """The app from $FEEDSVC_CONFIG or ./config.toml; one clear line and exit 2 if the config is bad."""
    config = _config(None)
    _usable_cache_folder(config)
    setup_logging()
    from .app import create_app
    return create_app(config)


def setup_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            stream=sys.stderr)
    logging.getLogger("feedsvc").setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


config_option = click.option("--config", "config_path", metavar="PATH", default=None,
                             help="config.toml to use (default: $FEEDSVC_CONFIG, else ./config.toml).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="feedsvc")
def cli() -> None:
    """Publish Markdown entries as RSS, Atom and JSON feeds."""


@cli.command()
@config_option
@click.option("--host", default=None, help="Address to listen on (default: [server] host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: [server] port, 8000).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Worker processes; 0: one per core, at most 8 (default: [server] workers).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads per worker.")
@click.option("--server", "server_name", type=click.Choice(["granian", "gunicorn"]), default="granian",
              show_default=True, help="HTTP server: granian (fastest measured) or gunicorn (gthread).")
@click.option("--no-access-log", is_flag=True, help="Do not log each request.")
def serve(config_path: str | None, host: str | None, port: int | None, workers: int | None,
          threads: int | None, server_name: str, no_access_log: bool) -> None:
    """Serve the feeds; the scheduler refreshes them."""
    config = _config(config_path)
    if port is not None and not 0 < port < 65536:
        _fail_config(ConfigError("--port", f"must be a port number (1-65535), got {port}"))
    _usable_cache_folder(config)
    setup_logging()
    from .server import serve as run
    try:
        run(config, server_name, host or config.host, port or config.port,
            (config.workers if workers is None else workers) or default_workers(), threads or config.threads,
            access_log=not no_access_log)
    except ConfigError as e:
        _fail_config(e)
    except ListenError as e:
        click.echo(f"feedsvc: {e}", err=True)
        sys.exit(1)


def default_workers() -> int:
    """One process per core this process may run on: feed responses are CPU-bound
    and the GIL serialises threads. At most 8: each worker holds its own caches."""
    from .helper import cores
    return max(1, min(cores(), 8))


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check(config_path: str | None, as_json: bool) -> None:
    """Load every entry and render every feed; print each problem and warning.

    Exit 0 when every entry can be published (warnings allowed), 1 otherwise.
    """
    from .catalog import build_catalog
    from .entries import load_entries
    from .lint import lint
    from .refresher import utcnow
    from .site import build_site

    try:
        config = load_config(config_path, os.environ)
        loaded = load_entries(config.entries_path, config.site)   # raises for no entries folder
    except ConfigError as e:
        if as_json:   # a tool reading the answer gets JSON whatever went wrong
            click.echo(json.dumps({"ok": False, "config_error": {"key": e.key, "message": str(e)}}, indent=2))
            sys.exit(EXIT_CONFIG)
        _fail_config(e)
    now = utcnow()
    catalog = build_catalog(loaded.entries, config, now)
    build_error = None
    feed_sizes: dict[str, int] = {}
    feeds = 0
    try:
        snapshot, changes, _ = build_site(catalog, config)
        feeds = len(changes)
        feed_sizes = {p: len(r.body) for p, r in snapshot.resources.items() if r.kind == "feed"}
    except FeedsvcError as e:
        build_error = str(e)
    problems = [*loaded.problems, *catalog.problems, *lint(loaded.entries, catalog, config, feed_sizes)]
    problems.sort(key=lambda p: (p.path, p.line or 0, p.severity != "error"))
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        click.echo(json.dumps({
            "ok": not errors and build_error is None,
            "files": loaded.files,
            "published": len(catalog.entries),
            "scheduled": len(catalog.scheduled),
            "drafts": catalog.drafts,
            "categories": len(catalog.categories),
            "feeds": feeds,
            "errors": len(errors),
            "warnings": len(problems) - len(errors),
            "problems": [p.as_dict() for p in problems],
            "build_error": build_error,
        }, indent=2, ensure_ascii=False))
    else:
        for p in problems:
            click.echo(str(p))
        if build_error:
            click.echo(f"feeds: error: {build_error}")
        click.echo(f"{loaded.files} files: {len(catalog.entries)} published, {len(catalog.scheduled)} scheduled, "
                   f"{catalog.drafts} drafts; {len(catalog.categories)} categories, {feeds} feeds; "
                   f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    sys.exit(1 if errors or build_error else 0)


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@cli.command("export")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@config_option
@click.option("--no-gzip", is_flag=True, help="Do not write .gz files beside each file.")
def export_command(out_dir: Path, config_path: str | None, no_gzip: bool) -> None:
    """Write every public URL as a static tree (for a CDN or object storage)."""
    import dataclasses
    config = dataclasses.replace(_config(config_path), cache_path=None, scheduler_enabled=False)
    setup_logging(logging.WARNING)
    # A failed build is told in export's words; the service's ("still serving
    # the previous feeds") would make no sense here.
    refresh_log = logging.getLogger("feedsvc.refresh")
    refresh_log.addFilter(_no_service_wording)
    # Stopped (SIGTERM), the half-written tree is removed as on Ctrl-C.
    main = threading.current_thread() is threading.main_thread()
    was = signal.signal(signal.SIGTERM, _exit_on_term) if main else None
    try:
        _export(out_dir, config, no_gzip)
    finally:
        refresh_log.removeFilter(_no_service_wording)
        if main:
            signal.signal(signal.SIGTERM, was)


def _no_service_wording(record: logging.LogRecord) -> bool:
    # A trace (a bug) is kept: the one line export prints would not show it.
    return record.exc_info is not None or not str(record.msg).startswith("refresh failed")


def _export(out_dir: Path, config: Config, no_gzip: bool) -> None:
    from .export import check_target, export
    from .refresher import new_refresher

    try:
        check_target(out_dir)   # before the build, which takes a while on a large site
    except ExportError as e:
        click.echo(f"feedsvc: export refused: {e}", err=True)
        sys.exit(1)
    refresher = new_refresher(config)
    report = refresher.refresh()
    if not report.ok:
        click.echo(f"feedsvc: export failed: {report.error}", err=True)
        sys.exit(1)
    try:
        count = export(refresher.store.current, out_dir, gzip=not no_gzip)
    except ExportError as e:   # something appeared there meanwhile
        click.echo(f"feedsvc: export refused: {e}", err=True)
        sys.exit(1)
    except StaleEntry as e:    # its pages are rendered from the files, which must not change meanwhile
        click.echo(f"feedsvc: export failed: {e.message} (while exporting); nothing was replaced, run it "
                   f"again", err=True)
        sys.exit(1)
    except OSError as e:
        click.echo(f"feedsvc: export failed: {e.strerror or e}: {e.filename or out_dir}; nothing was replaced",
                   err=True)
        sys.exit(1)
    errors = sum(1 for p in report.problems if p.severity == "error")
    click.echo(f"wrote {count} files to {out_dir} ({report.entries} entries, {len(report.feeds)} feeds"
               f"{f'; {errors} entry error(s), see feedsvc check' if errors else ''})")


@cli.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="Base URL of the running service.")
@click.option("--timeout", type=float, default=120, show_default=True, help="Seconds to wait for the answer.")
@click.option("--json", "as_json", is_flag=True, help="Print the service's JSON answer as it is.")
def refresh(url: str, timeout: float, as_json: bool) -> None:
    """Ask a running service to refresh now (token from $FEEDSVC_ADMIN_TOKEN) and print what changed."""
    import urllib.error
    import urllib.request

    token = os.environ.get("FEEDSVC_ADMIN_TOKEN")
    if not token:
        click.echo("feedsvc: set FEEDSVC_ADMIN_TOKEN to the service's admin token", err=True)
        sys.exit(2)
    req = urllib.request.Request(url.rstrip("/") + "/admin/refresh", method="POST", data=b"",
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        body = e.read()
        if e.code != 500:  # 500 carries a refresh report; anything else is a refusal
            click.echo(f"feedsvc: {url} answered {e.code}: {body.decode('utf-8', 'replace').strip()}", err=True)
            sys.exit(1)
    except TimeoutError:
        # Connected, asked, and no answer in time (a failed connect is a URLError).
        click.echo(f"feedsvc: no answer from {url} within {timeout:g} s; the refresh goes on, see /status "
                   f"for its outcome (or give --timeout more)", err=True)
        sys.exit(1)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        click.echo(f"feedsvc: cannot reach {url}: {reason}", err=True)
        sys.exit(1)
    try:
        report = json.loads(body)
    except ValueError:
        click.echo(f"feedsvc: {url} did not answer with JSON", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(format_report(report))
    sys.exit(0 if report.get("ok") else 1)


def format_report(r: dict) -> str:  # type: ignore[type-arg]
    if not r.get("ok"):
        return f"refresh FAILED after {r.get('duration', 0):.3f}s: {r.get('error')}\nstill serving the previous feeds"
    lines = [f"refresh ok in {r['duration']:.3f}s at {r['finished']}: {r['entries']} entries published "
             f"({r['scheduled']} scheduled, {r['drafts']} drafts)"]
    for key in ("added", "changed", "removed"):
        if r[key]:
            lines.append(f"  {key}: " + ", ".join(r[key][:10]) + (" ..." if len(r[key]) > 10 else ""))
    changed = [f for f in r["feeds"] if f["changed"]]
    lines.append(f"  feeds changed: {len(changed)} of {len(r['feeds'])}")
    for f in changed[:20]:
        lines.append(f"    {f['path']}  ETag \"{f['etag']}\"")
    errors = [p for p in r["problems"] if p["severity"] == "error"]
    for p in r["problems"]:
        where = f"{p['path']}:{p['line']}" if p.get("line") else p["path"]
        lines.append(f"  {p['severity']}: {where}: {p['field']}: {p['message']}")
    if not r["problems"]:
        lines.append("  no entry problems")
    elif errors:
        lines.append(f"  {len(errors)} entry file(s) not published")
    return "\n".join(lines)


def main() -> None:
    cli(prog_name="feedsvc")
