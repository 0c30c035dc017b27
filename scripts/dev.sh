#!/usr/bin/env bash
# Runs the app on a fresh machine: one instance, embedded PGlite and in-process bus.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh
bun install --frozen-lockfile >&2
exec bun dev
