#!/bin/bash
# As the official redis image: options alone (`--appendonly yes`) are given to redis-server; redis-server runs as the
# redis user with protected mode off, owning /data.
set -euo pipefail

if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ]; then
  shift
  set -- redis-server "$@" --protected-mode no
  if [ "$(id -u)" = '0' ]; then
    chown -R redis:redis /data
    exec setpriv --reuid=redis --regid=redis --init-groups -- "$@"
  fi
fi

exec "$@"
