#!/usr/bin/env bash
# The test command: makes sure the HDF5 library the build needs is there (scripts/ensure-hdf5.sh),
# then runs every test of the workspace. Extra arguments go to `cargo test`.
# Usage: bash scripts/test.sh [CARGO TEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-hdf5.sh
exec cargo test --workspace --locked "$@"
