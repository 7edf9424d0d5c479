"""Serve ``wsgi:app`` with waitress (installed in bench/.peers-venv, not in the project's venv).

    python -m bench.waitress_app --port P [--threads N] --site-packages DIR

Run with the project's interpreter; the config comes from $FEEDSVC_CONFIG.
"""
from __future__ import annotations

import argparse
import sys

from .common import ROOT


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--site-packages", required=True, help="where waitress is installed")
    args = p.parse_args()
    sys.path.append(args.site_packages)   # after the project's own packages: only waitress comes from there
    sys.path.insert(0, str(ROOT))
    from waitress import serve

    import wsgi
    serve(wsgi.app, host="127.0.0.1", port=args.port, threads=args.threads, connection_limit=256,
          ident="waitress")


if __name__ == "__main__":
    main()
