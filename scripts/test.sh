#!/usr/bin/env bash
# Runs every test on a fresh machine: installs Bun, PostgreSQL and Redis when
# missing (and Caddy, promtool and k6 for the system tests), then scripts/test.ts starts throwaway servers and runs the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh --cluster --browser --fuzz --monitoring
# k6 for the k6 smoke test (built once into .tools/bin; the test calls it again, a no-op then).
bash scripts/ensure-k6.sh >/dev/null
bun install --frozen-lockfile >&2
# kubeconform v0.8.0 (go install; needs Go >= 1.26) and offline Kubernetes schemas, for deploy/manifests.test.ts.
bash scripts/ensure-kubeconform.sh >/dev/null
exec bun scripts/test.ts "$@"
