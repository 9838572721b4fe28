#!/usr/bin/env bash
# Makes (or reuses) a Python virtual environment at DIR holding the PyPI PACKAGES, for the
# workflow tests (Snakemake, miniwdl). Debian's python3 lacks venv until python3-venv is
# installed; as root it is installed here.
# Usage: bash scripts/python-venv.sh DIR CHECK_EXE PACKAGE...   (CHECK_EXE: a program in DIR/bin
# whose presence means the environment is ready)
set -euo pipefail
venv=$1 check=$2
shift 2
if [ -x "$venv/bin/$check" ]; then
    exit 0
fi
if ! python3 -m venv "$venv" 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3-venv
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check "$@"
