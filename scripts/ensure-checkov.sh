#!/usr/bin/env bash
# checkov in a virtualenv of its own, pinned by requirements-checkov.txt (it cannot share
# .venv: see that file), linked as LINK (`make setup`: .venv/bin/checkov).
#
# The virtualenv lives in a cache keyed by the lock file's contents
# ($BBP_TOOLS_CACHE, default ~/.cache/bbp-tools/checkov-<hash>), so worktrees and CI's clean
# clones share one install (≈ 300 MB, a minute to build) instead of each building its own;
# a changed lock file builds a new one. Built under a lock, marked complete only at the end.
set -euo pipefail
link=${1:?usage: ensure-checkov.sh LINK}
lock_file=requirements-checkov.txt
python=${PYTHON:-python3}
cache=${BBP_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bbp-tools}
key=$( (cat "$lock_file"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)
home=$cache/checkov-$key

if [ ! -f "$home/.complete" ]; then
  mkdir -p "$cache"
  exec 9>"$home.lock"
  flock 9
  if [ ! -f "$home/.complete" ]; then
    echo "ensure-checkov: installing checkov into $home (once per version of $lock_file)" >&2
    rm -rf "$home"
    "$python" -m venv "$home"
    "$home/bin/pip" install --disable-pip-version-check -q -r "$lock_file"
    "$home/bin/checkov" --version >/dev/null
    touch "$home/.complete"
  fi
  exec 9>&-
fi
ln -sfn "$home/bin/checkov" "$link"
