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
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
