#!/usr/bin/env bash
# Installs what running and testing Hangar need on a Debian machine, when it is missing: PostgreSQL and redis-server
# (the AppHost runs them from their binaries), Node.js for the Blink SDK test agent and its npm packages, jq for the
# README walk-through.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
{ command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; } || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v jq >/dev/null || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing ${need[*]} …"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The agent written with the real blink SDK, used by the compatibility tests and the README's walk-through.
npm ci --prefix tests/agents/blink-echo --no-audit --no-fund --loglevel=error
