#!/usr/bin/env bash
# Install everything `make test` needs; safe to rerun (skips what is present).
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. Debian packages (only the missing ones; needs root, as CI runs).
mapfile -t pkgs < <(grep -v '^\s*#' .ci/apt-packages.txt | sed '/^\s*$/d')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. Python virtual environment with the dev requirements.
# The interpreter: PYTHON if set; else Debian's python3.11 when it can make venvs (a static
# binary built with PGO and LTO: the Python-bound benchmarks run faster on it than on an
# --enable-shared build without PGO, such as pyenv's default; README, "Interpreter"); else python3.
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ -x /usr/bin/python3.11 ] && /usr/bin/python3.11 -c 'import ensurepip, venv' 2>/dev/null; then
  PY=/usr/bin/python3.11
else
  PY=python3
fi
# A venv made from another interpreter is replaced (it holds nothing but what this script installs).
want_exe=$("$PY" -c 'import os, sys; print(os.path.realpath(sys.executable))')
if [ -x .venv/bin/python ]; then
  have_exe=$(sed -n 's/^executable = //p' .venv/pyvenv.cfg 2>/dev/null)
  if [ -n "$have_exe" ] && [ "$(realpath "$have_exe" 2>/dev/null)" != "$want_exe" ]; then
    echo "replacing .venv (made from $have_exe) with one from $want_exe"
    rm -rf .venv
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
