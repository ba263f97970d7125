#!/usr/bin/env bash
# Validates docker-compose.kafka.yml with the Docker client (no engine needed).
# Uses the compose v2 plugin when present, else docker-compose; skipped only when the
# machine has no Docker client at all.
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then
  docker compose -f docker-compose.kafka.yml config -q
elif command -v docker-compose >/dev/null 2>&1; then
  docker-compose -f docker-compose.kafka.yml config -q
elif command -v docker >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "compose-check: installing docker-compose (Debian) to validate the compose file"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
  docker-compose -f docker-compose.kafka.yml config -q
elif command -v docker >/dev/null 2>&1; then
  echo "compose-check: FAILED - a docker client but no compose; install docker-compose" >&2
  exit 1
else
  echo "compose-check: SKIPPED - no docker client on this machine"
  exit 0
fi
echo "compose-check: docker-compose.kafka.yml is valid"
