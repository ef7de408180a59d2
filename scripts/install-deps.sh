#!/usr/bin/env bash
# Installs every Debian package Herald's build, tests and benchmarks need.
# Idempotent: packages already installed are skipped; apt-get runs only when
# something is missing. Safe to run on every `make run` / `make test`.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config ccache
  # libraries (see ../shared/ARCHITECTURE.md, "Chosen dependencies")
  libssl-dev libsqlite3-dev libexpected-dev nlohmann-json3-dev libcli11-dev
  libtomlplusplus-dev libspdlog-dev libfmt-dev libboost1.81-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # independent validators and tools used by the integration tests
  openssl sqlite3 gnutls-bin libnss3-tools faketime python3
  curl nginx-light prometheus apache2-utils wrk
  # ACME clients and peers (issue #4)
  certbot lego pebble
  # PostgreSQL store and several nodes behind a load balancer (issue #13)
  libpq-dev postgresql haproxy
  # the dashboard's browser test (issue #14): headless chromium, driven by
  # playwright-core from npm (node and npm are needed: see browser_deps)
  chromium
)

# npm ci of tests/browser/package-lock.json (playwright-core, no browser
# download: it drives /usr/bin/chromium). Only when node_modules is missing.
browser_deps() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/browser"
  [[ -d $dir/node_modules/playwright-core ]] && return 0
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: npm is missing: install nodejs (>= 18) and npm for the dashboard's browser test" >&2
    return 0
  fi
  echo "install-deps: npm ci in tests/browser" >&2
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent) ||
    echo "install-deps: npm ci in tests/browser failed" >&2
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  browser_deps
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
browser_deps
