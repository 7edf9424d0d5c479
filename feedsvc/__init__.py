"""feedsvc: publish Markdown articles as RSS 2.0, Atom 1.0 and JSON Feed 1.1."""
from __future__ import annotations

import logging

__version__ = "0.1.0"

from .config import Config, load_config  # noqa: E402
from .errors import ConfigError, EntryError, FeedBuildError, FeedsvcError, NotFound  # noqa: E402
from .model import Author, Entry, Problem  # noqa: E402

__all__ = ["Author", "Config", "ConfigError", "Entry", "EntryError", "FeedBuildError", "FeedsvcError", "NotFound",
           "Problem", "__version__", "load_config"]

logging.getLogger("feedsvc").addHandler(logging.NullHandler())
