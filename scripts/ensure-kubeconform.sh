#!/usr/bin/env bash
# Installs what `test/deploy` needs to validate deploy/ offline, into the git-ignored .tools/:
#   .tools/bin/kubeconform         kubeconform v0.8.0 (go install)
#   .tools/k8s-schemas/<version>/  strict JSON schemas (Kubernetes 1.31) from the kubernetes-validate wheel (PyPI),
#                                  their _definitions.json references rewritten to local files
# Prints the kubeconform path on stdout. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECONFORM_VERSION="v0.8.0"
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.31.0}"
export GOBIN="$PWD/.tools/bin"
KUBECONFORM="$GOBIN/kubeconform"
SCHEMAS="$PWD/.tools/k8s-schemas"

if [ ! -x "$KUBECONFORM" ]; then
  command -v go >/dev/null 2>&1 || { echo "[kubeconform] go >= 1.26 is required" >&2; exit 1; }
  mkdir -p "$GOBIN"
  echo "[kubeconform] go install github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}" >&2
  go install "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}" >&2
fi

# The schemas hold absolute file:// references: made again when the checkout moved.
if [ "$(cat "$SCHEMAS/.done-${KUBERNETES_VALIDATE_VERSION}" 2>/dev/null)" != "$SCHEMAS" ]; then
  VENV="$PWD/.tools/venv-kubernetes-validate"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >&2 || { echo "[kubeconform] python3 -m venv failed: install python3-venv" >&2; exit 1; }
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}" >&2
  rm -rf "$SCHEMAS"
  mkdir -p "$SCHEMAS"
  "$VENV/bin/python" "$PWD/scripts/k8s-local-schemas.py" "$SCHEMAS" >&2
  echo "$SCHEMAS" > "$SCHEMAS/.done-${KUBERNETES_VALIDATE_VERSION}"
fi
echo "$KUBECONFORM"
