#!/usr/bin/env bash
# The README's test command: installs what the tests need, starts a throwaway PostgreSQL server on loopback (the store
# tests run against a real one), builds everything (the process tests run the real vigil-agent and helper binaries),
# and runs every test. Extra arguments go to `swift test` (e.g. --filter Spool).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
VIGIL_TEST_POSTGRES_URL=$(scripts/postgres.sh start)
export VIGIL_TEST_POSTGRES_URL
trap 'scripts/postgres.sh stop >/dev/null 2>&1 || true' EXIT
swift build --build-tests
swift test --skip-build "$@"
