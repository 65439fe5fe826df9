#!/usr/bin/env bash
# Builds PostgreSQL and Redis images on this machine without any registry (scripts/images/): hangar/postgres:15 and
# hangar/redis:7, on the debootstrap base that scripts/build-agent-image.sh makes (or BASE_IMAGE), with packages from
# the base's Debian sources. They follow the official postgres and redis images' conventions, so the published compose
# file (POSTGRES_IMAGE, REDIS_IMAGE) and the AppHost's container mode (AppHost:PostgresImage, AppHost:RedisImage) run
# them in place of postgres:15 and redis:7. An image already on the engine is kept; REBUILD=1 builds it again.
set -euo pipefail
cd "$(dirname "$0")/.."

base_image="${BASE_IMAGE:-hangar/agent-base:bookworm}"
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  echo "Base image $base_image is not on the engine: run scripts/build-agent-image.sh first." >&2
  exit 1
fi

for entry in postgres:hangar/postgres:15 redis:hangar/redis:7; do
  name="${entry%%:*}"
  image="${entry#*:}"
  if [ -z "${REBUILD:-}" ] && docker image inspect "$image" >/dev/null 2>&1; then
    continue
  fi
  echo "Building $image on $base_image …"
  docker build -q --network host --build-arg BASE_IMAGE="$base_image" -t "$image" "scripts/images/$name" >/dev/null
  docker image ls "$image" --format '{{.Repository}}:{{.Tag}} {{.Size}}'
done
