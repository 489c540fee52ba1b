#!/usr/bin/env bash
# The main command: installs what is missing, builds, and runs the signing
# benchmark side by side with AWS's own JavaScript signer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
bench/run_signing.sh
