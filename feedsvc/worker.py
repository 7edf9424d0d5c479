"""The WSGI app of one `feedsvc serve` worker process.

`feedsvc serve` checks the configuration, then starts the server, which
imports this module in each worker; the config path comes through
$FEEDSVC_CONFIG and the FEEDSVC_* overrides through the environment, as for
any other start.
"""
from __future__ import annotations

import os

from .app import create_app
from .cli import setup_logging
from .config import load_config

setup_logging()
app = create_app(load_config(None, os.environ), start_scheduler=True)
