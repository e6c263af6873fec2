#!/usr/bin/env bash
# The clock-skew pipeline tests run a communicator whose clock is 5 minutes off the database's
# (Debian's libfaketime, preloaded into that process only): install it if missing.
set -eu
ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 && exit 0
echo "ensure-faketime: installing Debian's faketime" >&2
if [ "$(id -u)" = 0 ]; then apt-get install -y faketime >/dev/null; else sudo -n apt-get install -y faketime >/dev/null; fi
ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null
