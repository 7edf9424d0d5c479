"""config.toml -> one frozen ``Config``, validated once at startup.

Every setting is declared once in ``SETTINGS``; loading, environment overrides,
error messages and the README's configuration table all come from it.
"""
from __future__ import annotations

import functools
import json
import re
import os
import tomllib
import unicodedata
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from .errors import ConfigError
from .model import Author
from .resources import digest
from .slugs import is_slug

FORMATS = ("rss", "atom", "json")
ENV_PREFIX = "FEEDSVC_"
# Variables that are not FEEDSVC_<SECTION>_<KEY> settings.
ENV_RESERVED = {"FEEDSVC_CONFIG", "FEEDSVC_ADMIN_TOKEN"}


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    kind: str
    default: Any
    help: str

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def env(self) -> str:
        return f"{ENV_PREFIX}{self.section.upper()}_{self.key.upper()}"


REQUIRED = object()

SETTINGS: tuple[Setting, ...] = (
    Setting("site", "title", "text", REQUIRED, "Name of the publication, the title of the site-wide feed."),
    Setting("site", "base_url", "url", REQUIRED, "Absolute public http(s) URL of the site, without credentials, query or fragment; every link and "
            "default id is made from it (a domain beyond ASCII in its xn-- form)."),
    Setting("site", "description", "str", "", "One line about the site, the feeds' description/subtitle."),
    Setting("site", "language", "language", "en", "BCP 47 language tag of the content, such as en or zh-Hans (RSS language, JSON Feed language, xml:lang; the pages' lang and text direction)."),
    Setting("site", "timezone", "tz", "UTC", "IANA zone for entry dates written without an offset."),
    Setting("site", "author", "author", None, "Default author: a name or { name, email, uri }; defaults to the site title."),
    Setting("entries", "path", "path", "entries", "Folder of entry files (*.md, searched recursively)."),
    Setting("feeds", "max_entries", "posint", 50, "Newest N entries per feed."),
    Setting("feeds", "formats", "formats", list(FORMATS), "Formats served: any of rss, atom, json."),
    Setting("feeds", "full_content", "bool", True, "false: feeds carry summaries only."),
    Setting("refresh", "interval_seconds", "posint", 300, "Seconds between scheduled refreshes; also the feeds' max-age."),
    Setting("server", "host", "str", "127.0.0.1", "Address `feedsvc serve` listens on."),
    Setting("server", "port", "port", 8000, "Port `feedsvc serve` listens on."),
    Setting("server", "workers", "count", 0, "Worker processes for `feedsvc serve`; 0 = one per CPU core."),
    Setting("server", "threads", "posint", 4, "Threads per worker process."),
    Setting("websub", "hubs", "urls", [], "WebSub hubs to advertise and notify when a feed changes; empty: off."),
    Setting("websub", "timeout_seconds", "posint", 10, "Seconds to wait for a hub to answer one notification."),
    Setting("websub", "retries", "count", 3, "Further tries, with doubling pauses, when a hub fails."),
    Setting("cache", "path", "path", ".feedsvc-cache", "Folder for the rendered snapshot that workers share and "
            "restarts serve at once."),
    Setting("cache", "memory_mb", "posint", 64, "Megabytes of rendered feeds each process keeps in memory; "
            "the rest are read from the cache folder when asked for."),
)

CATEGORY_KEYS = {
    "slug": "URL slug of the category instead of the one made from its name.",
    "title": "Title of the category's feeds instead of '<site title>: <name>'.",
    "description": "Description of the category's feeds and page.",
}


@dataclass(frozen=True)
class CategorySettings:
    slug: str | None = None
    title: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class SiteConfig:
    title: str
    base_url: str
    description: str = ""
    language: str = "en"
    timezone: str = "UTC"
    author: Author = Author("feedsvc")

    # Cached: every entry parsed asks for both (splitting the base URL again
    # was 2-3% of parsing an entry).
    @functools.cached_property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @functools.cached_property
    def domain(self) -> str:
        return urlsplit(self.base_url).hostname or "localhost"


@dataclass(frozen=True)
class Config:
    site: SiteConfig
    entries_path: Path
    max_entries: int = 50
    formats: tuple[str, ...] = FORMATS
    full_content: bool = True
    refresh_interval: int = 300
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 0
    threads: int = 4
    cache_path: Path | None = None
    cache_memory_mb: int = 64
    websub_hubs: tuple[str, ...] = ()
    websub_timeout: int = 10
    websub_retries: int = 3
    categories: Mapping[str, CategorySettings] = field(default_factory=dict)
    admin_token: str | None = field(default=None, repr=False)
    source: Path | None = None
    # Tests and one-shot commands run without the scheduler.
    scheduler_enabled: bool = True


# -- value checks, one per kind ------------------------------------------------

def _text(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {type(v).__name__}")
    return v


def _nonempty(v: Any) -> str:
    s = _text(v).strip()
    if not s:
        raise ValueError("must not be empty")
    return s


def _url(v: Any) -> str:
    """The site's base URL, as every id and link is made from it: ASCII (a
    domain in its A-label form), no white space, no credentials."""
    s = _nonempty(v)
    if any(c.isspace() or not c.isprintable() for c in s):
        raise ValueError(f"must not contain spaces or control characters, got {s!r}")
    parts = urlsplit(s)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an absolute http(s) URL, got {s!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or fragment, got {s!r}")
    if "@" in parts.netloc:
        raise ValueError(f"must not hold a user name or password: every feed would publish it, got {s!r}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"has a port out of range (1-65535), got {s!r}")
    if s.isascii():
        return s.rstrip("/")   # as written: a feed's id is made from it, and must not change
    # Ids are tag: URIs, whose domain is ASCII (RFC 4151), and links are URIs:
    # the domain in its A-label form, the path percent-encoded.
    host = parts.hostname
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"has a domain name that cannot be written in ASCII (IDNA), got {s!r}") from None
    netloc = f"[{host}]" if ":" in host else host   # an IPv6 address keeps its brackets
    if port is not None:
        netloc += f":{port}"
    path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~")
    return urlunsplit((parts.scheme, netloc, path, "", "")).rstrip("/")


# A BCP 47 language tag's shape (RFC 5646 2.1): letters, then subtags of letters and digits.
_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")


def _language(v: Any) -> str:
    s = _nonempty(v)
    if _LANGUAGE.fullmatch(s) is None:
        raise ValueError(f"must be a language tag such as 'en', 'en-GB' or 'zh-Hans', got {s!r}")
    return s


def _tz(v: Any) -> str:
    s = _nonempty(v)
    try:
        zoneinfo.ZoneInfo(s)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {s!r} (use an IANA name such as 'Europe/Paris')") from None
    return s


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise ValueError(f"expected true or false, got {v!r}")


def _posint(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"expected a whole number, got {v!r}")
    if v < 1:
        raise ValueError(f"must be 1 or more, got {v}")
    return v


def _count(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"expected a whole number, 0 or more, got {v!r}")
    return v


def _urls(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list):
        raise ValueError("expected a list of absolute http(s) URLs")
    out: list[str] = []
    for item in v:
        url = _nonempty(item)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an absolute http(s) URL, got {url!r}")
        if url not in out:
            out.append(url)
    return tuple(out)


def _port(v: Any) -> int:
    n = _posint(v)
    if n > 65535:
        raise ValueError(f"must be a port number (1-65535), got {n}")
    return n


def _formats(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v:
        raise ValueError(f"expected a non-empty list of {', '.join(FORMATS)}")
    out: list[str] = []
    for f in v:
        if f not in FORMATS:
            raise ValueError(f"unknown format {f!r} (choose from {', '.join(FORMATS)})")
        if f not in out:
            out.append(f)
    return tuple(out)


def _author(v: Any) -> Author | None:
    if v is None:
        return None
    if isinstance(v, str):
        return Author(_nonempty(v))
    if isinstance(v, Mapping):
        unknown = set(v) - {"name", "email", "uri"}
        if unknown:
            raise ValueError(f"unknown author field(s): {', '.join(sorted(unknown))}")
        if "name" not in v:
            raise ValueError("an author table needs a name")
        email = v.get("email")
        uri = v.get("uri")
        return Author(_nonempty(v["name"]), _nonempty(email) if email is not None else None,
                      _url(uri) if uri is not None else None)
    raise ValueError("expected a name or a table { name, email, uri }")


CHECKS: dict[str, Callable[[Any], Any]] = {
    "str": _text, "text": _nonempty, "url": _url, "language": _language, "tz": _tz, "bool": _bool,
    "posint": _posint, "count": _count, "port": _port, "urls": _urls, "formats": _formats, "author": _author,
    "path": _nonempty,
}


def _from_env(kind: str, raw: str) -> Any:
    """Environment values are strings; read them as the setting's kind expects."""
    raw = raw.strip()
    if kind in ("posint", "port", "count"):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
    if kind == "bool":
        low = raw.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if kind in ("formats", "urls"):
        if raw.startswith("["):
            try:
                return json.loads(raw)
            except json.JSONDecodeError as e:
                raise ValueError(f"not a JSON list: {e}") from None
        return [p.strip() for p in raw.split(",") if p.strip()]
    if kind == "author" and raw.startswith("{"):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"not a JSON object: {e}") from None
    return raw


# -- loading -------------------------------------------------------------------

def find_config_path(cli_path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path:
    """``--config``, else ``$FEEDSVC_CONFIG``, else ``./config.toml``."""
    if cli_path:
        return Path(cli_path)
    if environ.get("FEEDSVC_CONFIG"):
        return Path(environ["FEEDSVC_CONFIG"])
    return Path("config.toml")


def load_config(path: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment and validate; raise ``ConfigError`` naming the key."""
    environ = os.environ if environ is None else environ
    p = find_config_path(path, environ)
    src = str(p)
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("file", f"config file not found: {src} (give --config PATH or set FEEDSVC_CONFIG)") from None
    except IsADirectoryError:
        raise ConfigError("file", f"{src} is a folder, not a config file") from None
    except OSError as e:
        raise ConfigError("file", f"cannot read {src}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("file", f"not valid TOML: {e}", source=src) from None
    return config_from_mapping(data, environ, base_dir=p.resolve().parent, source=p)


def config_from_mapping(data: Mapping[str, Any], environ: Mapping[str, str] | None = None, *,
                        base_dir: Path | None = None, source: Path | None = None) -> Config:
    environ = {} if environ is None else environ
    src = str(source) if source else None
    base_dir = base_dir or Path.cwd()
    known = {s.section for s in SETTINGS} | {"categories"}
    for section, body in data.items():
        if section not in known:
            raise ConfigError(section, f"unknown section [{section}] (known: {', '.join(sorted(known))})", source=src)
        if not isinstance(body, Mapping):
            raise ConfigError(section, f"[{section}] must be a table" + _table_hint(section, body), source=src)
    for section, body in data.items():
        if section == "categories":
            continue
        keys = {s.key for s in SETTINGS if s.section == section}
        for key in body:
            if key not in keys:
                raise ConfigError(f"{section}.{key}", f"unknown key (known in [{section}]: {', '.join(sorted(keys))})",
                                  source=src)
    env_sections = {s.section.upper() for s in SETTINGS}
    env_names = {s.env for s in SETTINGS}
    for name in environ:
        if name.startswith(ENV_PREFIX) and name not in ENV_RESERVED and name not in env_names:
            section = name[len(ENV_PREFIX):].split("_", 1)[0]
            if section in env_sections:
                raise ConfigError(name, "unknown setting in the environment", source="environment")

    values: dict[str, Any] = {}
    for s in SETTINGS:
        raw: Any
        origin = src
        if s.env in environ:
            origin = "environment"
            try:
                raw = _from_env(s.kind, environ[s.env])
            except ValueError as e:
                raise ConfigError(s.env, str(e), source=origin) from None
        elif s.key in data.get(s.section, {}):
            raw = data[s.section][s.key]
        elif s.default is REQUIRED:
            raise ConfigError(s.name, f"required (set {s.key} in [{s.section}] or {s.env})", source=src)
        else:
            raw = s.default
        try:
            values[s.name] = CHECKS[s.kind](raw)
        except ValueError as e:
            key = s.env if origin == "environment" else s.name
            raise ConfigError(key, str(e), source=origin) from None

    categories = _categories(data.get("categories", {}), src)
    entries_path = Path(values["entries.path"])
    if not entries_path.is_absolute():
        entries_path = base_dir / entries_path
    cache_path = Path(values["cache.path"])
    if not cache_path.is_absolute():
        cache_path = base_dir / cache_path
    site = SiteConfig(
        title=values["site.title"],
        base_url=values["site.base_url"],
        description=values["site.description"],
        language=values["site.language"],
        timezone=values["site.timezone"],
        author=values["site.author"] or Author(values["site.title"]),
    )
    token = environ.get("FEEDSVC_ADMIN_TOKEN") or None
    return Config(
        site=site,
        entries_path=entries_path,
        max_entries=values["feeds.max_entries"],
        formats=values["feeds.formats"],
        full_content=values["feeds.full_content"],
        refresh_interval=values["refresh.interval_seconds"],
        host=values["server.host"],
        port=values["server.port"],
        workers=values["server.workers"],
        threads=values["server.threads"],
        cache_path=cache_path,
        cache_memory_mb=values["cache.memory_mb"],
        websub_hubs=values["websub.hubs"],
        websub_timeout=values["websub.timeout_seconds"],
        websub_retries=values["websub.retries"],
        categories=categories,
        admin_token=token,
        source=source,
    )


def _table_hint(section: str, body: Any) -> str:
    """What to write instead, when a section was written as ``[[section]]`` (a list of tables)."""
    if not (isinstance(body, list) and body and all(isinstance(b, Mapping) for b in body)):
        return ""
    if section == "categories":
        return ' of categories by name: write [categories."World & U.S. News"], not [[categories]] with a name key'
    return f", written once: [{section}], not [[{section}]]"


def _categories(table: Mapping[str, Any], src: str | None) -> dict[str, CategorySettings]:
    out: dict[str, CategorySettings] = {}
    taken: dict[str, str] = {}
    for name, body in table.items():
        where = f'categories."{name}"'
        if not isinstance(body, Mapping):
            raise ConfigError(where, "must be a table with slug, title or description", source=src)
        for key in body:
            if key not in CATEGORY_KEYS:
                raise ConfigError(f"{where}.{key}", f"unknown key (known: {', '.join(CATEGORY_KEYS)})", source=src)
        vals: dict[str, str | None] = {}
        for key in CATEGORY_KEYS:
            v = body.get(key)
            if v is None:
                vals[key] = None
                continue
            try:
                vals[key] = _nonempty(v)
            except ValueError as e:
                raise ConfigError(f"{where}.{key}", str(e), source=src) from None
        slug = vals["slug"]
        if slug is not None:
            if not is_slug(slug):
                raise ConfigError(f"{where}.slug", f"{slug!r} is not a slug (lower-case ASCII letters, digits, "
                                  "words joined by '-')", source=src)
            if slug in taken:
                raise ConfigError(f"{where}.slug", f"slug {slug!r} is already used by category {taken[slug]!r}",
                                  source=src)
            taken[slug] = name
        nfc = unicodedata.normalize("NFC", name)   # as entries' names are
        if nfc in out:
            raise ConfigError(where, f"the same name as another category table, spelled with other Unicode "
                              f"code points ({nfc!r})", source=src)
        out[nfc] = CategorySettings(**vals)
    return out


def output_key(config: Config) -> str:
    """A digest of what, in the config, shapes the rendered bytes (not the token, not the server)."""
    return digest(repr((config.site, config.entries_path, config.max_entries, config.formats, config.full_content,
                        config.refresh_interval, sorted(config.categories.items()), config.websub_hubs)).encode())
