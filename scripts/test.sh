#!/usr/bin/env bash
# Runs every test on a fresh machine: installs Bun, PostgreSQL and Redis when
# missing (and Caddy, for the cluster system test), then scripts/test.ts starts throwaway servers and runs the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh --cluster --browser --fuzz
bun install --frozen-lockfile >&2
exec bun scripts/test.ts "$@"
