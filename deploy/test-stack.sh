#!/usr/bin/env bash
# Build Vigie's image and test the compose stack (deploy/test_stack.py says what it checks).
# Needs podman (on these machines: ../shared/tools/container-base.sh installs it and a local
# debian:bookworm-slim) and podman-compose (installed into a venv of its own if missing).
# A few minutes; not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PODMAN:-}" ]; then
  if [ -x /var/tmp/container-base/podman ]; then PODMAN=/var/tmp/container-base/podman
  else PODMAN=$(command -v podman || true); fi
fi
[ -n "$PODMAN" ] || { echo "podman is not installed" >&2; exit 2; }
if [ -z "${PODMAN_COMPOSE:-}" ]; then
  PODMAN_COMPOSE=$(command -v podman-compose || true)
  if [ -z "$PODMAN_COMPOSE" ]; then
    venv=${VIGIE_COMPOSE_VENV:-/var/tmp/vigie-compose-venv}
    [ -x "$venv/bin/podman-compose" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q podman-compose; }
    PODMAN_COMPOSE=$venv/bin/podman-compose
  fi
fi
export PODMAN PODMAN_COMPOSE
exec "${PYTHON:-.venv/bin/python}" deploy/test_stack.py "$@"
