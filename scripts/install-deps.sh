#!/usr/bin/env bash
# Installs the Debian (bookworm) packages sluice needs to build and test.
# Idempotent: does nothing when they are all installed already.
# Set SLUICE_SKIP_DEPS=1 to skip this step entirely.
set -euo pipefail

packages=(
  g++
  cmake
  ninja-build
  ccache
  libboost1.81-all-dev
  libboost-json1.81-dev
  catch2
  librange-v3-dev
  libbenchmark-dev
  libsqlite3-dev
  libssl-dev
  libsimdjson-dev
  chromium
  librdkafka-dev
  libyaml-cpp-dev
  pkg-config
  openssl
  kafkacat
  default-jre-headless
  maven
)

if [[ "${SLUICE_SKIP_DEPS:-0}" == "1" ]]; then
  echo "install-deps: skipped (SLUICE_SKIP_DEPS=1)"
  exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: not a Debian-based system; make sure these (or equivalents) are installed:" >&2
  echo "  ${packages[*]}" >&2
  exit 0
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed$'; then
    missing+=("$pkg")
  fi
done

# Components' own dependencies (Python packages in the project's venv, npm servers,
# ...): every scripts/deps/*.sh, in name order, after the Debian packages.
run_component_deps() {
  local script
  for script in scripts/deps/[0-9a-z]*.sh; do
    [[ -e "$script" ]] || continue
    bash "$script"
  done
}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  run_component_deps
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
run_component_deps
