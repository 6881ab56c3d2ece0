# A throw-away PostgreSQL server for the storage tests; sourced by .ci/run.
#   start_postgres   installs the Debian package if needed, initdb into a temporary folder, starts
#                    the server as the postgres user on a free local port, and exports
#                    MOVIEREC_TEST_POSTGRES_URL (the tests then run against it and must not skip)
#   stop_postgres    stops that server by its process id and removes its folder
start_postgres() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends postgresql
  fi
  local bin
  bin="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
  PG_DIR="$(mktemp -d /tmp/movierec-pg.XXXXXX)"
  chown postgres "$PG_DIR" 2>/dev/null || true
  PG_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else $sudo runuser -u postgres -- "$@"; fi; }
  as_postgres "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log"; return 1; }
  as_postgres "$bin/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -k "$PG_DIR" \
    -c listen_addresses=127.0.0.1 -c fsync=on >"$PG_DIR/server.log" 2>&1 &
  local tries=0
  until [ -s "$PG_DIR/data/postmaster.pid" ] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ]; then echo "PostgreSQL did not start:"; cat "$PG_DIR/server.log"; return 1; fi
    sleep 0.2
  done
  PG_PID="$(head -1 "$PG_DIR/data/postmaster.pid")"
  export MOVIEREC_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $PG_PORT (pid $PG_PID) for the storage tests"
}

stop_postgres() {
  if [ -n "${PG_PID:-}" ]; then
    kill -INT "$PG_PID" 2>/dev/null || true  # fast shutdown
    for _ in $(seq 1 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  [ -n "${PG_DIR:-}" ] && rm -rf "$PG_DIR"
  PG_PID=""
}
