#!/usr/bin/env bash
# A private PostgreSQL for the case and security tests: Debian's postgresql (installed with
# apt-get when missing), one cluster under .pg/ in the repository (gitignored) listening on
# 127.0.0.1:${VIGIL_PG_PORT:-55432} only, and a database ${VIGIL_PG_DB:-vigil_test}.
# Prints the SQLAlchemy URL. Idempotent: when the cluster already runs it just prints the URL.
# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
#   VIGIL_TEST_PG_URL=$(bash scripts/ensure-postgres.sh) .venv/bin/pytest tests/cases
#   bash scripts/ensure-postgres.sh --stop     # stop the cluster (data kept in .pg/)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# one cluster per checkout: its own port, so two clones on one machine do not collide
KEY="$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
if [ "$(id -u)" = "0" ]; then
    # as root the cluster runs as `postgres`, which may not be able to enter the checkout
    # (a clone under a private temporary directory): keep it where `postgres` can
    PGROOT="${VIGIL_PG_DIR:-/var/tmp/vigil-pg-$KEY}"
else
    PGROOT="${VIGIL_PG_DIR:-$ROOT/.pg}"
fi
# the port: VIGIL_PG_PORT, else the one this cluster was first given (kept in $PGROOT/port),
# else 55432 + the checkout's key, moved on past ports something else already listens on
PORT_FILE="$PGROOT/port"
DB="${VIGIL_PG_DB:-vigil_test}"
SUPERUSER="vigil"
DATA="$PGROOT/data"
LOG="$PGROOT/server.log"

find_bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; fi
}

BINDIR="$(find_bindir)"
if [ -z "$BINDIR" ]; then
    echo "installing Debian's postgresql for the database tests (apt-get, about a minute)..." >&2
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    log="$(mktemp)"
    if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            $SUDO apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "could not install postgresql with apt-get (log above)" >&2
        exit 1
    fi
    rm -f "$log"
    BINDIR="$(find_bindir)"
    if [ -z "$BINDIR" ]; then
        echo "postgresql installed but no initdb under /usr/lib/postgresql/*/bin" >&2
        exit 1
    fi
fi

# run a PostgreSQL program as the cluster's owner: ourselves, or `postgres` when we are root
as_owner() {
    if [ "$(id -u)" = "0" ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

mkdir -p "$PGROOT"
if [ "$(id -u)" = "0" ]; then chown postgres: "$PGROOT"; fi

# one caller at a time sets the cluster up (make test may run in two terminals)
exec 9>"$PGROOT/.lock"
flock 9

running() { as_owner "$BINDIR/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }

if [ "${1:-}" = "--stop" ]; then
    if running; then as_owner "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -s; fi
    exit 0
fi

if [ ! -f "$DATA/PG_VERSION" ]; then
    log="$(mktemp)"
    chmod 644 "$log"
    if ! as_owner "$BINDIR/initdb" -D "$DATA" -U "$SUPERUSER" --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 >"$log" 2>&1; then
        cat "$log" >&2
        echo "initdb failed in $DATA (log above)" >&2
        exit 1
    fi
    rm -f "$log"
fi

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -n "${VIGIL_PG_PORT:-}" ]; then
    PORT="$VIGIL_PG_PORT"
elif running && [ -s "$DATA/postmaster.pid" ]; then
    PORT="$(sed -n 4p "$DATA/postmaster.pid")"  # the running cluster's own port
    echo "$PORT" > "$PORT_FILE"
elif [ -s "$PORT_FILE" ]; then
    PORT="$(cat "$PORT_FILE")"
else
    PORT=$((55432 + KEY % 1000))
    tries=0
    while port_taken "$PORT" && [ $tries -lt 200 ]; do
        PORT=$((PORT + 1)); tries=$((tries + 1))
    done
    echo "$PORT" > "$PORT_FILE"
fi

if ! running; then
    if port_taken "$PORT" && [ -z "${VIGIL_PG_PORT:-}" ]; then
        # our port went to someone else while the cluster was down: take the next free one
        while port_taken "$PORT"; do PORT=$((PORT + 1)); done
        echo "$PORT" > "$PORT_FILE"
    fi
    # test cluster: local TCP only, socket in the cluster's own directory, no fsync
    if ! as_owner "$BINDIR/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 -s -o \
            "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGROOT \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=200" >/dev/null 2>&1 9>&-; then
        tail -n 30 "$LOG" >&2 || true
        echo "could not start PostgreSQL on port $PORT (server log above: $LOG)" >&2
        exit 1
    fi
fi

PSQL=("$BINDIR/psql" -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres -v ON_ERROR_STOP=1 -qtA)
if [ "$("${PSQL[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
    "${PSQL[@]}" -c "CREATE DATABASE \"$DB\"" >/dev/null
fi
echo "postgresql+psycopg://$SUPERUSER@127.0.0.1:$PORT/$DB"
