#!/usr/bin/env bash
# Installs the peers the benchmark compares feedsvc with, and reports what it
# could not install (the benchmark then marks that peer "missing"):
#   - Hugo, nginx, wrk and GNU time from Debian's packages;
#   - Pelican (with Markdown) and waitress from PyPI, into bench/.peers-venv,
#     a virtualenv of their own, so the project's .venv stays as it is.
# Safe to run again.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
missing=()

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || echo "apt-get update failed"
    for pkg in hugo nginx wrk time; do
        apt-get install -y -qq "$pkg" >/dev/null || missing+=("$pkg")
    done
else
    echo "not root on Debian: install hugo, nginx, wrk and time yourself"
fi
for tool in hugo nginx wrk; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done

python="${PYTHON:-python3}"
if [ ! -x "$here/.peers-venv/bin/python" ]; then
    "$python" -m venv "$here/.peers-venv" || missing+=("peers-venv")
fi
if [ -x "$here/.peers-venv/bin/pip" ]; then
    "$here/.peers-venv/bin/pip" install -q --upgrade "pelican[markdown]" waitress || missing+=("pelican/waitress")
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "peers installed: $(hugo version | cut -d' ' -f2), $(nginx -v 2>&1), wrk, $("$here/.peers-venv/bin/pelican" --version 2>&1 | tail -1), waitress"
else
    echo "could not install: ${missing[*]} (reported as missing by python -m bench)"
fi
