#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds everything (the process tests run the real
# vigil-agent and helper binaries), and runs every test. Extra arguments go to `swift test` (e.g. --filter Spool).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
swift build --build-tests
swift test --skip-build "$@"
