#!/usr/bin/env bash
# Installs the Debian packages Vigil needs on a fresh machine that has only the Swift toolchain.
#   scripts/install-deps.sh            build dependencies (libcurl, zlib, sqlite, libpq headers)
#   scripts/install-deps.sh --test     plus what the tests run against (PostgreSQL, Prometheus + promtool, python3 for the events scorer)
#   scripts/install-deps.sh PKG...     exactly these packages
# Idempotent: packages already installed are skipped without touching apt.
set -euo pipefail
build=(libcurl4-openssl-dev zlib1g-dev libpq-dev libsqlite3-dev pkg-config)
test=(python3 postgresql prometheus)
case "${1:-}" in
    --test) wanted=("${build[@]}" "${test[@]}") ;;
    "") wanted=("${build[@]}") ;;
    *) wanted=("$@") ;;
esac
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null || $sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
