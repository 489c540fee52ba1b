#!/usr/bin/env bash
# Configures and builds sds (library, CLI, tests, benchmarks) into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${SDS_BUILD_DIR:-build}
if [[ ! -f $build_dir/build.ninja ]]; then
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${SDS_CMAKE_ARGS:-}
fi
cmake --build "$build_dir"
