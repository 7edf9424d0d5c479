"""The one exception tree of feedsvc.

Every error the package raises on purpose is a ``FeedsvcError``. Branches carry
the data a caller needs to say *where* something went wrong (a config key, an
entry file, a feed), so messages can be built at the edge without parsing text.
"""
from __future__ import annotations


class FeedsvcError(Exception):
    """Base for all feedsvc errors."""

    _default_message = "feedsvc error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self._default_message)

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(FeedsvcError):
    """config.toml or a FEEDSVC_* variable is unusable; ``key`` names it."""

    _default_message = "invalid configuration"

    def __init__(self, key: str, message: str | None = None, *, source: str | None = None) -> None:
        self.key = key
        self.source = source
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.key}: {self.message}"


class EntryError(FeedsvcError):
    """An entry file cannot be published; names the path, the field and the reason."""

    _default_message = "unusable entry"

    def __init__(self, path: str, field: str, message: str | None = None, *, line: int | None = None) -> None:
        self.path = path
        self.field = field
        self.line = line
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.field}: {self.message}"


class StaleEntry(FeedsvcError):
    """An entry file no longer holds what the snapshot being served published
    (edited, removed or broken since): a page rendered on request from it now
    would mix the two."""

    _default_message = "an entry file changed since the feeds were published"

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"{path} changed since the feeds were published")


class PlacedError(FeedsvcError):
    """An error about one thing, named by ``where`` (a feed, a folder) and said first."""

    def __init__(self, where: str, message: str | None = None) -> None:
        self.where = where
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class FeedBuildError(PlacedError):
    """A feed could not be rendered (a bug or an input the loader let through); ``where`` is its URL."""

    _default_message = "feed could not be rendered"


class NotFound(FeedsvcError, LookupError):
    """No public resource at a path."""

    _default_message = "not found"


class ListenError(FeedsvcError):
    """``feedsvc serve`` cannot listen on its address; names it and says why."""

    _default_message = "cannot listen"

    def __init__(self, host: str, port: int, message: str | None = None) -> None:
        self.host = host
        self.port = port
        super().__init__(message)

    def __str__(self) -> str:
        where = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return f"cannot listen on {where}: {self.message}"


class ExportError(PlacedError):
    """``feedsvc export`` will not write to its target (``where``), and says why."""

    _default_message = "cannot export there"
