#!/usr/bin/env bash
# Installs everything hubline's build and tests need on a fresh Debian machine:
# apt packages (sipp, baresip, kamailio, chromium), the softphone's npm
# packages (from package-lock.json; no browser downloads), and Go modules.
# Idempotent: a second run with everything present takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need+=(baresip)
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The softphone's packages, exactly as locked. playwright-core never downloads a
# browser; tests use Debian's /usr/bin/chromium.
stamp=web/node_modules/.hubline-lock
if [ ! -f "$stamp" ] || ! cmp -s web/package-lock.json "$stamp"; then
  echo "setup: npm ci (web)" >&2
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  cp web/package-lock.json "$stamp"
fi

go mod download
