#!/usr/bin/env bash
# Installs what the app and its tests need when it is missing: Bun from npm,
# PostgreSQL and Redis from Debian's packages, Caddy for the cluster. Safe to run again.
#   ensure-tools.sh              Bun only (bun dev)
#   ensure-tools.sh --services   + PostgreSQL and Redis
#   ensure-tools.sh --cluster    + PostgreSQL, Redis, Caddy and python3-venv (bun run cluster, the system tests)
#   ensure-tools.sh --browser    + Debian's Chromium and fonts (the PWA's end-to-end tests, bun run bench:web)
#   ensure-tools.sh --fuzz       + schemathesis in a venv under .tools/ (the HTTP fuzz test)
#   ensure-tools.sh --monitoring + promtool (Debian's prometheus package: the monitoring test)
set -euo pipefail

BUN_VERSION="${BUN_VERSION:-1.4.5}"
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

if ! command -v bun >/dev/null 2>&1; then
  echo "[setup] installing bun@${BUN_VERSION} from npm" >&2
  npm install -g "bun@${BUN_VERSION}" >&2
fi

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq >&2; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >&2
}

need_services=""
need_caddy=""
need_promtool=""
need_browser=""
need_fuzz=""
for arg in "$@"; do
  case "$arg" in
    --services) need_services=1 ;;
    --cluster) need_services=1; need_caddy=1 ;;
    --monitoring) need_promtool=1 ;;
    --browser) need_browser=1 ;;
    --fuzz) need_fuzz=1 ;;
    *) echo "[setup] unknown option: $arg" >&2; exit 2 ;;
  esac
done

if [ -n "$need_services" ]; then
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "[setup] installing postgresql" >&2
    apt_install postgresql
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "[setup] installing redis-server" >&2
    apt_install redis-server
  fi
fi

if [ -n "$need_caddy" ] && ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
  # The manifest check (deploy/manifests.test.ts) takes its Kubernetes schemas from PyPI into a venv.
  echo "[setup] installing python3-venv" >&2
  apt_install python3-venv
fi

if [ -n "$need_caddy" ] && ! command -v caddy >/dev/null 2>&1; then
  # Debian's package also enables a caddy.service on :80 where systemd runs;
  # the cluster starts its own Caddy on a loopback port and does not use it.
  echo "[setup] installing caddy" >&2
  apt_install caddy
fi

if [ -n "$need_browser" ]; then
  # Debian's Chromium (playwright-core 1.64 drives its version 156); never a downloaded browser.
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -d /usr/share/fonts/truetype/liberation ] || missing+=(fonts-liberation)
  [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "[setup] installing ${missing[*]}" >&2
    apt_install "${missing[@]}"
  fi
fi

# schemathesis (Python >= 3.11) from PyPI, pinned, in its own venv: Debian refuses system-wide pip installs.
SCHEMATHESIS_VERSION="4.32.5"
if [ -n "$need_fuzz" ]; then
  venv="$(cd "$(dirname "$0")/.." && pwd)/.tools/schemathesis"
  if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
      echo "[setup] installing python3-venv" >&2
      apt_install python3-venv
    fi
    echo "[setup] installing schemathesis ${SCHEMATHESIS_VERSION} into .tools/schemathesis" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}" >&2
  fi
fi

if [ -n "$need_promtool" ] && ! command -v promtool >/dev/null 2>&1; then
  # The package also ships a prometheus.service; nothing here starts it.
  echo "[setup] installing prometheus (for promtool)" >&2
  apt_install prometheus
fi
