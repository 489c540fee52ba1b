#!/usr/bin/env bash
# The main command: installs what is missing, builds, starts the local
# emulators (dynalite behind the signature-verifying gateway, and Azurite),
# runs examples/demo.cpp on both engines, DynamoDB then Azure Table Storage
# (every datastore operation, printed step by step), and stops the servers
# again, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build_dir=${SDS_BUILD_DIR:-build}
export SDS_EMULATOR_DIR=${SDS_EMULATOR_DIR:-$PWD/$build_dir/emulators-demo}
# dynalite's own CREATING phase (500 ms), so the demo shows create_table waiting.
export SDS_DYNALITE_CREATE_MS=${SDS_DYNALITE_CREATE_MS:-500}
trap 'scripts/emulators.sh stop >/dev/null 2>&1 || true' EXIT
eval "$(scripts/emulators.sh start)"
echo "demo: DynamoDB endpoint $AWS_ENDPOINT_URL_DYNAMODB (dynalite behind a SigV4-verifying gateway)"
"$build_dir/examples/sds_demo" dynamodb
echo
echo "demo: Azure Table Storage from AZURE_STORAGE_CONNECTION_STRING (Azurite, which checks SharedKey itself)"
"$build_dir/examples/sds_demo" azure
