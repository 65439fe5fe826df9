#!/usr/bin/env bash
# Installs what running and testing Hangar need on a Debian machine, when it is missing: a Docker engine with the agent
# image and the PostgreSQL and Redis images the AppHost runs, all built locally (docker.io and debootstrap; dockerd is
# started when no engine answers), redis-server for the Redis client's own tests, Node.js for the Blink SDK test
# agent and its npm packages, jq for the README walk-through, and docker-compose for the published compose file.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v jq >/dev/null || need+=(jq)
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v docker-compose >/dev/null || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing ${need[*]} …"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The agent written with the real blink SDK, used by the compatibility tests and the README's walk-through.
npm ci --prefix tests/agents/blink-echo --no-audit --no-fund --loglevel=error
(cd tests/agents/blink-echo && npx --no-install blink build . >/dev/null)

# A Docker engine: started here when none answers (machines without systemd), then the agent image, built locally.
if ! docker info >/dev/null 2>&1; then
  echo "Starting dockerd …"
  mkdir -p .data
  setsid nohup dockerd >.data/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -20 .data/dockerd.log >&2; exit 1; }
fi
bash scripts/build-agent-image.sh
bash scripts/build-backing-images.sh
