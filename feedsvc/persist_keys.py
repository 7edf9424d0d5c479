"""Which parts of the config shape the rendered bytes."""
from __future__ import annotations

from .config import Config
from .resources import digest


def config_key(config: Config) -> str:
    """A digest of what, in the config, changes output (not the token, not the server settings)."""
    return digest(repr((config.site, config.entries_path, config.max_entries, config.formats, config.full_content,
                        config.refresh_interval, sorted(config.categories.items()), config.websub_hubs)).encode())
