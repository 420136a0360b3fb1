#!/bin/bash
# Placeholder for the local demo (to be replaced together with the hook): installs the
# dependencies and builds the project, then stops.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
./tests/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null
echo "demo coming with the hook"
