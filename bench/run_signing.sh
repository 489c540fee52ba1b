#!/usr/bin/env bash
# Signing benchmark: sds's signers and AWS's JavaScript signer, same run.
set -euo pipefail
cd "$(dirname "$0")/.."
node bench/report_signing.mjs "${SDS_BUILD_DIR:-build}" "${1:-1}"
