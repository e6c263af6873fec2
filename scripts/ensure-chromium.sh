#!/usr/bin/env bash
# Browser tests drive Debian's Chromium (never a downloaded browser): install it if missing.
set -eu
command -v chromium >/dev/null 2>&1 && exit 0
echo "ensure-chromium: installing Debian's chromium" >&2
if [ "$(id -u)" = 0 ]; then apt-get install -y chromium >/dev/null; else sudo -n apt-get install -y chromium >/dev/null; fi
command -v chromium >/dev/null
