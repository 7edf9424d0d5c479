#!/usr/bin/env bash
# Installs the peers the benchmark compares feedsvc with: Hugo, nginx and wrk
# from Debian's packages. Safe to run again.
set -u
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hugo nginx wrk || echo "some peers could not be installed"
else
    echo "run as root on Debian to install hugo, nginx and wrk; missing peers are reported as missing"
fi
