#!/usr/bin/env bash
# Installs k6 (v2, built from source with Go) into the project-local .tools/bin
# when it is missing; prints the path of the k6 binary on stdout. Needs Go >= 1.25.
# Safe to run again.
#
# `go install go.k6.io/k6/v2@vX` first. Some module proxies serve the pinned
# version but not the module's version list (`@v/list`, `@latest`); `go install`
# then fails while "loading deprecation". The fallback builds the same version
# from a throwaway module (`go get` + `go build`), which does not need the list.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOBIN="$PWD/.tools/bin"
K6="$GOBIN/k6"
if [ -x "$K6" ]; then echo "$K6"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "[k6] go >= 1.25 is required: install it from https://go.dev/dl/ or your package manager" >&2
  exit 1
fi
mkdir -p "$GOBIN"

build_from_module() {
  local version="$1" dir
  dir="$(mktemp -d)"
  trap 'rm -rf "$dir"' RETURN
  (
    cd "$dir"
    go mod init k6-build >/dev/null 2>&1
    go get "go.k6.io/k6/v2@${version}" >&2
    go build -trimpath -o "$K6" go.k6.io/k6/v2 >&2
  )
}

for version in v2.2.0 v2.1.0; do
  echo "[k6] go install go.k6.io/k6/v2@${version} (a few minutes the first time)" >&2
  if go install "go.k6.io/k6/v2@${version}" >&2; then echo "$K6"; exit 0; fi
  echo "[k6] go install failed; building ${version} from a temporary module" >&2
  if build_from_module "$version"; then echo "$K6"; exit 0; fi
  echo "[k6] ${version} failed" >&2
done
echo "[k6] could not install k6" >&2
exit 1
