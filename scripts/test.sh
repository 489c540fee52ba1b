#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# through CTest. CI runs exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
cd "${SDS_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 "$@"
