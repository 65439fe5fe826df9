#!/bin/bash
# The official postgres image's start-up contract: on an empty $PGDATA, initdb with POSTGRES_USER (default postgres)
# and POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), create POSTGRES_DB (default: the user's
# name), accept connections from any address with that method; then run the server as the postgres user.
set -euo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
  user="${POSTGRES_USER:-postgres}"
  database="${POSTGRES_DB:-$user}"
  method="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$method" != 'trust' ]; then
      echo 'Error: the database is uninitialized and POSTGRES_PASSWORD is not set (or set POSTGRES_HOST_AUTH_METHOD=trust).' >&2
      exit 1
    fi
    password_file="$(mktemp)"
    printf '%s' "${POSTGRES_PASSWORD:-}" >"$password_file"
    chown postgres "$password_file"
    as_postgres initdb --username="$user" --pwfile="$password_file" --auth-local=trust --auth-host="$method" \
      --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
    rm -f "$password_file"
    printf 'host all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"

    as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start
    if [ "$database" != 'postgres' ]; then
      as_postgres psql -v ON_ERROR_STOP=1 -h /var/run/postgresql --username="$user" --dbname=postgres \
        -c "create database \"$database\""
    fi
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop
  fi

  # Settings given as arguments come after these defaults, so they win (`-c listen_addresses=127.0.0.1 -p 5433`).
  shift
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
    postgres -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
fi

exec "$@"
