#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for Vigil's store tests (issue 3 §6, §10).
#
#   scripts/postgres.sh start   # initdb if needed, start, create database vigil_test, print the URL
#   scripts/postgres.sh stop    # stop the cluster (data stays in $VIGIL_PG_DIR)
#   scripts/postgres.sh url     # print the URL
#   scripts/postgres.sh status
#
# Environment: VIGIL_PG_DIR (default /tmp/vigil-pg), VIGIL_PG_PORT (default 55432).
# Idempotent: `start` on a running cluster only prints the URL. Listens on 127.0.0.1 only, trust auth (tests only).
# As root it runs the server as the `postgres` OS user (postgres refuses to run as root).
set -euo pipefail

PG_DIR="${VIGIL_PG_DIR:-/tmp/vigil-pg}"
PG_PORT="${VIGIL_PG_PORT:-55432}"
PG_DB="vigil_test"
DATA="$PG_DIR/data"
LOG="$PG_DIR/postgres.log"
URL="postgresql://postgres@127.0.0.1:${PG_PORT}/${PG_DB}"

find_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then echo "$d"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return 0
    fi
    return 1
}

ensure_installed() {
    if ! BIN="$(find_bindir)"; then
        if [[ "$(id -u)" -ne 0 ]]; then
            echo "postgres.sh: initdb not found and not root; install the 'postgresql' package" >&2
            exit 1
        fi
        echo "postgres.sh: installing postgresql with apt" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        BIN="$(find_bindir)" || { echo "postgres.sh: initdb still missing after install" >&2; exit 1; }
    fi
}

# Runs a command as the cluster owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

is_running() {
    [[ -f "$DATA/PG_VERSION" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
    ensure_installed
    mkdir -p "$PG_DIR"
    if [[ "$(id -u)" -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PG_DIR" --shell /bin/false postgres
        chown -R postgres: "$PG_DIR"
    fi
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 \
            || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
    fi
    if ! is_running; then
        # Unix socket in the cluster directory so we never need /var/run/postgresql.
        as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=100 -c fsync=on" start >/dev/null \
            || { tail -n 30 "$LOG" >&2; exit 1; }
    fi
    if ! as_owner "$BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
        as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$PG_DB"
    fi
    echo "$URL"
}

stop() {
    BIN="$(find_bindir)" || exit 0
    if is_running; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) echo "$URL" ;;
    status) BIN="$(find_bindir)" || exit 1; if is_running; then echo "running: $URL"; else echo "stopped"; exit 1; fi ;;
    *) echo "usage: $0 start|stop|url|status" >&2; exit 2 ;;
esac
