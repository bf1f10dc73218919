#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL server from Debian's packages, for the postgres tests.
#
#   url=$(scripts/postgres.sh start DIR)   # initdb + pg_ctl on a free local port; prints the URL
#   scripts/postgres.sh stop DIR           # stop it and delete DIR
#
# The cluster lives in DIR (created if missing), listens on 127.0.0.1 only with trust auth, and
# runs as the invoking user, or as the system user `cxlens-pg` when invoked as root (PostgreSQL
# refuses to run as root).
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "postgres.sh: PostgreSQL server binaries not found under /usr/lib/postgresql (apt install postgresql)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u cxlens-pg -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
  start)
    if [ "$(id -u)" -eq 0 ] && ! id cxlens-pg >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin cxlens-pg
    fi
    mkdir -p "$dir"
    chmod 0755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown cxlens-pg "$dir"; fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    as_owner "$bindir/initdb" -D "$dir/data" -U cxlens --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U cxlens cxlens
    echo "postgresql+psycopg://cxlens@127.0.0.1:$port/cxlens"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
