"""config.toml: every setting and its default, environment overrides, errors that name the key, finding the file."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping

import pytest

from feedsvc.config import (REQUIRED, SETTINGS, CategorySettings, Config, find_config_path, load_config)
from feedsvc.errors import ConfigError
from feedsvc.model import Author

MINIMAL = """
[site]
title = "The Meridian Review"
base_url = "https://news.example.org"
"""

FULL = """
[site]
title = "The Meridian Review"
base_url = "https://news.example.org/"
description = "Analysis of technology and world affairs"
language = "zh-Hans"
timezone = "Asia/Shanghai"
author = { name = "Newsroom", email = "desk@example.org", uri = "https://news.example.org/about" }

[entries]
path = "content/articles"

[feeds]
max_entries = 20
formats = ["atom", "json"]
full_content = false

[refresh]
interval_seconds = 60

[server]
host = "0.0.0.0"
port = 9000
workers = 3
threads = 8

[cache]
path = "var/cache"

[categories."World & U.S. News"]
slug = "world"
title = "World news from the Review"
description = "Politics and diplomacy"

[categories."Artificial Intelligence"]
description = "Machines that learn"
"""


def write(folder: Path, text: str, name: str = "config.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def load(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    return load_config(path, environ or {})


def error(path: Path, environ: Mapping[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(path, environ)
    return info.value


# -- reading a file --------------------------------------------------------------

def test_every_setting_is_read_from_a_full_file(tmp_path):
    p = write(tmp_path, FULL)
    c = load(p)
    assert c.site.title == "The Meridian Review"
    assert c.site.base_url == "https://news.example.org"  # trailing slash removed
    assert c.site.description == "Analysis of technology and world affairs"
    assert c.site.language == "zh-Hans"
    assert c.site.timezone == "Asia/Shanghai"
    assert str(c.site.tz) == "Asia/Shanghai"
    assert c.site.domain == "news.example.org"
    assert c.site.author == Author("Newsroom", "desk@example.org", "https://news.example.org/about")
    assert c.entries_path == tmp_path / "content" / "articles"
    assert c.max_entries == 20
    assert c.formats == ("atom", "json")
    assert c.full_content is False
    assert c.refresh_interval == 60
    assert (c.host, c.port, c.workers, c.threads) == ("0.0.0.0", 9000, 3, 8)
    assert c.cache_path == tmp_path / "var" / "cache"
    assert c.categories == {
        "World & U.S. News": CategorySettings("world", "World news from the Review", "Politics and diplomacy"),
        "Artificial Intelligence": CategorySettings(None, None, "Machines that learn"),
    }
    assert c.source == p
    assert c.admin_token is None


def test_defaults_of_every_optional_setting(tmp_path):
    c = load(write(tmp_path, MINIMAL))
    assert c.site.description == ""
    assert c.site.language == "en"
    assert c.site.timezone == "UTC"
    assert c.site.author == Author("The Meridian Review"), "the author defaults to the site title"
    assert c.entries_path == tmp_path / "entries"
    assert c.max_entries == 50
    assert c.formats == ("rss", "atom", "json")
    assert c.full_content is True
    assert c.refresh_interval == 300
    assert (c.host, c.port, c.workers, c.threads) == ("127.0.0.1", 8000, 0, 4)
    assert c.cache_path == tmp_path / ".feedsvc-cache"
    assert c.categories == {}
    assert c.admin_token is None


def test_settings_table_covers_every_section_the_file_may_have():
    # The README's table and the env names come from SETTINGS; each must have help text and an env name.
    for s in SETTINGS:
        assert s.help
        assert s.env == f"FEEDSVC_{s.section.upper()}_{s.key.upper()}"
    required = {s.name for s in SETTINGS if s.default is REQUIRED}
    assert required == {"site.title", "site.base_url"}


def test_author_as_a_plain_name(tmp_path):
    p = write(tmp_path, MINIMAL + 'author = "Jane Doe"\n')
    assert load(p).site.author == Author("Jane Doe")


def test_single_format_string_is_one_format(tmp_path):
    p = write(tmp_path, MINIMAL + '[feeds]\nformats = "json"\n')
    assert load(p).formats == ("json",)


def test_repeated_formats_are_listed_once(tmp_path):
    p = write(tmp_path, MINIMAL + '[feeds]\nformats = ["rss", "rss", "atom"]\n')
    assert load(p).formats == ("rss", "atom")


@pytest.mark.parametrize("key", ["title", "base_url"])
def test_required_site_setting_missing_is_an_error_naming_it(tmp_path, key):
    lines = [line for line in MINIMAL.splitlines() if not line.startswith(key)]
    err = error(write(tmp_path, "\n".join(lines)))
    assert err.key == f"site.{key}"
    assert "required" in err.message
    assert f"site.{key}" in str(err)


# -- relative paths --------------------------------------------------------------

def test_relative_entries_path_resolves_against_the_config_folder(tmp_path, monkeypatch):
    p = write(tmp_path / "etc" / "feedsvc", MINIMAL + '[entries]\npath = "../../srv/entries"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    c = load(p)
    assert c.entries_path.resolve() == (tmp_path / "srv" / "entries").resolve()


def test_relative_config_path_still_resolves_against_its_folder(tmp_path, monkeypatch):
    write(tmp_path / "site", MINIMAL)
    monkeypatch.chdir(tmp_path)
    c = load(Path("site/config.toml"))
    assert c.entries_path == (tmp_path / "site" / "entries").resolve()
    assert c.entries_path.is_absolute()


def test_absolute_entries_path_is_kept(tmp_path):
    target = tmp_path / "abs" / "entries"
    p = write(tmp_path / "conf", MINIMAL + f'[entries]\npath = "{target.as_posix()}"\n')
    assert load(p).entries_path == target


# -- environment overrides -------------------------------------------------------

def test_env_overrides_an_int_setting(tmp_path):
    p = write(tmp_path, MINIMAL + "[refresh]\ninterval_seconds = 600\n")
    c = load(p, {"FEEDSVC_REFRESH_INTERVAL_SECONDS": "60"})
    assert c.refresh_interval == 60


@pytest.mark.parametrize(("raw", "value"), [("false", False), ("0", False), ("no", False), ("off", False),
                                             ("true", True), ("1", True), ("YES", True), ("on", True)])
def test_env_overrides_a_bool_setting(tmp_path, raw, value):
    p = write(tmp_path, MINIMAL + f"[feeds]\nfull_content = {str(not value).lower()}\n")
    assert load(p, {"FEEDSVC_FEEDS_FULL_CONTENT": raw}).full_content is value


@pytest.mark.parametrize(("raw", "value"), [("rss,json", ("rss", "json")), (" atom ", ("atom",)),
                                             ('["json", "rss"]', ("json", "rss"))])
def test_env_overrides_a_list_setting(tmp_path, raw, value):
    p = write(tmp_path, MINIMAL)
    assert load(p, {"FEEDSVC_FEEDS_FORMATS": raw}).formats == value


def test_env_overrides_string_settings(tmp_path):
    p = write(tmp_path, MINIMAL)
    c = load(p, {"FEEDSVC_SITE_TITLE": "Env Title", "FEEDSVC_SITE_BASE_URL": "https://env.example.com/",
                 "FEEDSVC_SITE_TIMEZONE": "Europe/Paris", "FEEDSVC_SERVER_HOST": "0.0.0.0"})
    assert c.site.title == "Env Title"
    assert c.site.base_url == "https://env.example.com"
    assert c.site.domain == "env.example.com"
    assert c.site.timezone == "Europe/Paris"
    assert c.host == "0.0.0.0"


def test_env_supplies_a_required_setting_missing_from_the_file(tmp_path):
    p = write(tmp_path, '[site]\ntitle = "T"\n')
    assert load(p, {"FEEDSVC_SITE_BASE_URL": "https://env.example.com"}).site.base_url == "https://env.example.com"


def test_env_author_as_name_or_json_object(tmp_path):
    p = write(tmp_path, MINIMAL)
    assert load(p, {"FEEDSVC_SITE_AUTHOR": "Jane"}).site.author == Author("Jane")
    c = load(p, {"FEEDSVC_SITE_AUTHOR": '{"name": "Jane", "email": "j@example.org"}'})
    assert c.site.author == Author("Jane", "j@example.org")


def test_env_entries_path_is_read(tmp_path):
    p = write(tmp_path, MINIMAL)
    assert load(p, {"FEEDSVC_ENTRIES_PATH": "/srv/feeds"}).entries_path == Path("/srv/feeds")


@pytest.mark.parametrize(("name", "raw"), [("FEEDSVC_REFRESH_INTERVAL_SECONDS", "soon"),
                                           ("FEEDSVC_REFRESH_INTERVAL_SECONDS", "-5"),
                                           ("FEEDSVC_FEEDS_FULL_CONTENT", "perhaps"),
                                           ("FEEDSVC_FEEDS_FORMATS", "rss,opml"),
                                           ("FEEDSVC_FEEDS_FORMATS", "[not json"),
                                           ("FEEDSVC_SITE_BASE_URL", "news.example.org"),
                                           ("FEEDSVC_SERVER_PORT", "99999")])
def test_bad_env_value_is_an_error_naming_the_variable(tmp_path, name, raw):
    err = error(write(tmp_path, MINIMAL), {name: raw})
    assert err.key == name
    assert err.source == "environment"
    assert name in str(err)


def test_unknown_env_setting_in_a_known_section_is_an_error_naming_it(tmp_path):
    err = error(write(tmp_path, MINIMAL), {"FEEDSVC_REFRESH_INTERVAL": "60"})
    assert err.key == "FEEDSVC_REFRESH_INTERVAL"


def test_reserved_and_unrelated_env_variables_are_not_settings(tmp_path):
    p = write(tmp_path, MINIMAL)
    c = load(p, {"FEEDSVC_CONFIG": str(p), "FEEDSVC_ADMIN_TOKEN": "t", "HOME": "/root", "OTHER_SITE_TITLE": "x"})
    assert c.site.title == "The Meridian Review"


# -- the admin token -------------------------------------------------------------

def test_admin_token_comes_from_the_environment(tmp_path):
    c = load(write(tmp_path, MINIMAL), {"FEEDSVC_ADMIN_TOKEN": "s3cret"})
    assert c.admin_token == "s3cret"
    assert "s3cret" not in repr(c), "the secret must not leak into logs through repr"


def test_empty_admin_token_means_no_token(tmp_path):
    assert load(write(tmp_path, MINIMAL), {"FEEDSVC_ADMIN_TOKEN": ""}).admin_token is None


@pytest.mark.parametrize(("extra", "key"), [('[admin]\ntoken = "s3cret"\n', "admin"),
                                            ('admin_token = "s3cret"\n', "site.admin_token")])
def test_admin_token_cannot_be_set_in_the_file(tmp_path, extra, key):
    err = error(write(tmp_path, MINIMAL + extra))
    assert err.key == key


# -- errors name the key ---------------------------------------------------------

def test_unknown_section_is_an_error_naming_it(tmp_path):
    err = error(write(tmp_path, MINIMAL + "[extras]\nfoo = 1\n"))
    assert err.key == "extras"
    assert "unknown section" in err.message


def test_unknown_key_is_an_error_naming_it(tmp_path):
    err = error(write(tmp_path, MINIMAL + "[feeds]\nmax_entry = 5\n"))
    assert err.key == "feeds.max_entry"
    assert "max_entries" in err.message, "the message lists the keys that exist"


def test_section_that_is_not_a_table_is_an_error(tmp_path):
    err = error(write(tmp_path, 'feeds = 5\n' + MINIMAL))
    assert err.key == "feeds"


@pytest.mark.parametrize(("text", "key", "hint"), [
    (MINIMAL + '[[categories]]\nname = "AI"\nslug = "ai"\n', "categories", '[categories."World & U.S. News"]'),
    (MINIMAL + "[[refresh]]\ninterval_seconds = 60\n", "refresh", "[refresh], not [[refresh]]"),
])
def test_a_section_written_as_a_list_of_tables_says_how_to_write_it(tmp_path, text, key, hint):
    err = error(write(tmp_path, text))
    assert err.key == key
    assert hint in err.message


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("[refresh]\ninterval_seconds = -1\n", "refresh.interval_seconds"),
        ("[refresh]\ninterval_seconds = 0\n", "refresh.interval_seconds"),
        ('[refresh]\ninterval_seconds = "300"\n', "refresh.interval_seconds"),
        ("[refresh]\ninterval_seconds = 1.5\n", "refresh.interval_seconds"),
        ("[feeds]\nmax_entries = 0\n", "feeds.max_entries"),
        ("[feeds]\nmax_entries = true\n", "feeds.max_entries"),
        ('[feeds]\nformats = ["rss", "opml"]\n', "feeds.formats"),
        ("[feeds]\nformats = []\n", "feeds.formats"),
        ('[feeds]\nfull_content = "yes"\n', "feeds.full_content"),
        ("[server]\nport = 70000\n", "server.port"),
        ("[server]\nworkers = -1\n", "server.workers"),
        ("[server]\nthreads = 0\n", "server.threads"),
        ('[entries]\npath = "  "\n', "entries.path"),
    ],
)
def test_bad_value_is_an_error_naming_the_key(tmp_path, extra, key):
    err = error(write(tmp_path, MINIMAL + extra))
    assert err.key == key
    assert key in str(err)
    assert str(err).startswith(str(tmp_path / "config.toml")), "the message says which file"


@pytest.mark.parametrize(
    ("site_line", "key"),
    [
        ('base_url = "news.example.org"', "site.base_url"),
        ('base_url = "/news"', "site.base_url"),
        ('base_url = "ftp://news.example.org"', "site.base_url"),
        ('base_url = "https://news.example.org/?x=1"', "site.base_url"),
        ('base_url = "https://news example.org"', "site.base_url"),
        ('base_url = "https://news.example.org:99999"', "site.base_url"),
        ('base_url = "https://news.example.org:0"', "site.base_url"),
        ('base_url = "https://editor:secret@news.example.org"', "site.base_url"),
        ('language = ""', "site.language"),
        ('language = "not a tag!!"', "site.language"),
        ('timezone = "Mars/Olympus_Mons"', "site.timezone"),
        ('timezone = "../etc/passwd"', "site.timezone"),
        ('title = "  "', "site.title"),
        ("author = 5", "site.author"),
        ('author = { email = "x@example.org" }', "site.author"),
        ('author = { name = "X", phone = "1" }', "site.author"),
        ('author = { name = "X", uri = "/me" }', "site.author"),
    ],
)
def test_bad_site_value_is_an_error_naming_the_key(tmp_path, site_line, key):
    lines = {"title": 'title = "T"', "base_url": 'base_url = "https://news.example.org"'}
    lines[site_line.split(" ", 1)[0]] = site_line  # replaces a required line or adds one
    err = error(write(tmp_path, "[site]\n" + "\n".join(lines.values()) + "\n"))
    assert err.key == key


@pytest.mark.parametrize(("given", "used"), [
    ("https://例子.测试/", "https://xn--fsqu00a.xn--0zwm56d"),              # ids are tag: URIs: ASCII domains
    ("https://news.example.org:8443/nouvelles/été/", "https://news.example.org:8443/nouvelles/%C3%A9t%C3%A9"),
    ("https://News.Example.org/", "https://News.Example.org"),       # as written: the feeds' ids are made from it
    ("http://[::1]:8080/café/", "http://[::1]:8080/caf%C3%A9"),       # an IPv6 address keeps its brackets
    ("https://news.example.org/news/", "https://news.example.org/news"),
])
def test_base_url_is_kept_as_the_ascii_uri_every_link_is_made_from(tmp_path, given, used):
    c = load(write(tmp_path, f'[site]\ntitle = "T"\nbase_url = "{given}"\n'), {})
    assert c.site.base_url == used


def test_unknown_timezone_message_suggests_an_iana_name(tmp_path):
    err = error(write(tmp_path, MINIMAL + 'timezone = "China Standard Time"\n'))
    assert err.key == "site.timezone"
    assert "IANA" in err.message


def test_missing_file_is_an_error_naming_the_path(tmp_path):
    err = error(tmp_path / "nope.toml")
    assert err.key == "file"
    assert "nope.toml" in err.message and "not found" in err.message


def test_folder_instead_of_file_is_an_error(tmp_path):
    err = error(tmp_path)
    assert err.key == "file"


def test_invalid_toml_is_an_error_with_the_parser_position(tmp_path):
    err = error(write(tmp_path, MINIMAL + "[feeds\nmax_entries = 3\n"))
    assert err.key == "file"
    assert "not valid TOML" in err.message
    assert "line" in err.message


# -- finding the file ------------------------------------------------------------

def test_config_option_wins_over_env_and_cwd():
    assert find_config_path("/a/cli.toml", {"FEEDSVC_CONFIG": "/b/env.toml"}) == Path("/a/cli.toml")


def test_env_config_wins_over_cwd():
    assert find_config_path(None, {"FEEDSVC_CONFIG": "/b/env.toml"}) == Path("/b/env.toml")


def test_config_toml_in_the_working_folder_is_the_last_resort():
    assert find_config_path(None, {}) == Path("config.toml")
    assert find_config_path(None, {"FEEDSVC_CONFIG": ""}) == Path("config.toml")


def test_load_config_follows_the_same_order(tmp_path, monkeypatch):
    cli = write(tmp_path / "cli", MINIMAL.replace("The Meridian Review", "From CLI"))
    env = write(tmp_path / "env", MINIMAL.replace("The Meridian Review", "From env"))
    write(tmp_path / "cwd", MINIMAL.replace("The Meridian Review", "From cwd"))
    monkeypatch.chdir(tmp_path / "cwd")
    assert load_config(cli, {"FEEDSVC_CONFIG": str(env)}).site.title == "From CLI"
    assert load_config(None, {"FEEDSVC_CONFIG": str(env)}).site.title == "From env"
    cwd_config = load_config(None, {})
    assert cwd_config.site.title == "From cwd"
    assert cwd_config.entries_path == (tmp_path / "cwd" / "entries").resolve()


# -- categories ------------------------------------------------------------------

def test_category_settings_are_read(tmp_path):
    c = load(write(tmp_path, FULL))
    world = c.categories["World & U.S. News"]
    assert (world.slug, world.title, world.description) == ("world", "World news from the Review",
                                                            "Politics and diplomacy")


@pytest.mark.parametrize("slug", ["World", "world news", "world_news", "-world", "world-", "mónde", "a--b"])
def test_invalid_category_slug_is_an_error_naming_the_category(tmp_path, slug):
    err = error(write(tmp_path, MINIMAL + f'[categories."World & U.S. News"]\nslug = "{slug}"\n'))
    assert err.key == 'categories."World & U.S. News".slug'


def test_duplicate_category_slug_is_an_error_naming_both(tmp_path):
    text = MINIMAL + '[categories."World"]\nslug = "world"\n[categories."World & U.S. News"]\nslug = "world"\n'
    err = error(write(tmp_path, text))
    assert err.key == 'categories."World & U.S. News".slug'
    assert "'World'" in err.message


def test_unknown_category_key_is_an_error_naming_it(tmp_path):
    err = error(write(tmp_path, MINIMAL + '[categories."AI"]\nicon = "robot.png"\n'))
    assert err.key == 'categories."AI".icon'


def test_category_that_is_not_a_table_is_an_error(tmp_path):
    err = error(write(tmp_path, MINIMAL + '[categories]\nAI = "robots"\n'))
    assert err.key == 'categories."AI"'


def test_empty_category_description_is_an_error(tmp_path):
    err = error(write(tmp_path, MINIMAL + '[categories."AI"]\ndescription = ""\n'))
    assert err.key == 'categories."AI".description'
