"""The ``feedsvc`` command: serve, check."""
from __future__ import annotations

import json
import logging
import os
import sys
from typing import NoReturn

import click

from . import __version__
from .catalog import build_catalog
from .config import Config, load_config
from .entries import load_entries
from .errors import ConfigError, FeedsvcError
from .refresher import utcnow
from .site import build_site

EXIT_CONFIG = 2


def _fail_config(e: ConfigError) -> NoReturn:
    click.echo(f"feedsvc: configuration error: {e}", err=True)
    sys.exit(EXIT_CONFIG)


def _config(path: str | None) -> Config:
    try:
        return load_config(path, os.environ)
    except ConfigError as e:
        _fail_config(e)


def app_or_exit():  # type: ignore[no-untyped-def]
    """The app from $FEEDSVC_CONFIG or ./config.toml; one clear line and exit 2 if the config is bad."""
    config = _config(None)
    _setup_logging()
    from .app import create_app
    return create_app(config)


def _setup_logging(level: int = logging.INFO) -> None:
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
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: [server] workers).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads per worker.")
@click.option("--no-access-log", is_flag=True, help="Do not log each request.")
def serve(config_path: str | None, host: str | None, port: int | None, workers: int | None,
          threads: int | None, no_access_log: bool) -> None:
    """Serve the feeds with gunicorn; the scheduler refreshes them."""
    config = _config(config_path)
    if port is not None and not 0 < port < 65536:
        _fail_config(ConfigError("--port", f"must be a port number (1-65535), got {port}"))
    _setup_logging()
    from .server import serve as run
    run(config, host or config.host, port or config.port, workers or config.workers or default_workers(),
        threads or config.threads, access_log=not no_access_log)


def default_workers() -> int:
    """One process per core: feed responses are CPU-bound and the GIL serialises threads."""
    return max(1, min(os.cpu_count() or 1, 8))


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check(config_path: str | None, as_json: bool) -> None:
    """Load every entry and render every feed; print each problem. Exit 1 if any entry is unusable."""
    config = _config(config_path)
    now = utcnow()
    loaded = load_entries(config.entries_path, config.site)
    catalog = build_catalog(loaded.entries, config, now)
    problems = [*loaded.problems, *catalog.problems]
    build_error = None
    try:
        snapshot, feeds, _ = build_site(catalog, config)
    except FeedsvcError as e:
        build_error = str(e)
        feeds = []
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        click.echo(json.dumps({
            "ok": not errors and build_error is None,
            "files": loaded.files,
            "published": len(catalog.entries),
            "scheduled": len(catalog.scheduled),
            "drafts": catalog.drafts,
            "feeds": len(feeds),
            "problems": [p.as_dict() for p in problems],
            "build_error": build_error,
        }, indent=2))
    else:
        for p in problems:
            click.echo(str(p))
        if build_error:
            click.echo(f"feeds: error: {build_error}")
        click.echo(f"{loaded.files} files: {len(catalog.entries)} published, {len(catalog.scheduled)} scheduled, "
                   f"{catalog.drafts} drafts; {len(catalog.categories)} categories, {len(feeds)} feeds; "
                   f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
    sys.exit(1 if errors or build_error else 0)


def main() -> None:
    cli(prog_name="feedsvc")
