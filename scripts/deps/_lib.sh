# Shared by scripts/deps/*.sh (sourced, not run; the leading _ keeps install-deps.sh from running it).
#
#   sluice_venv        prints the project's Python venv (created on first use):
#                      $SLUICE_VENV, default <repo>/build/venv
#   sluice_pip REQ...  pip-installs the requirements REQ... into it (quick when satisfied)
#   sluice_npm_prefix  prints the prefix for the project's npm tools: <repo>/build/npm
set -euo pipefail

SLUICE_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

sluice_venv() {
  local venv="${SLUICE_VENV:-$SLUICE_REPO/build/venv}"
  if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  fi
  echo "$venv"
}

sluice_pip() {
  local venv
  venv="$(sluice_venv)"
  # Quick when every requirement is already satisfied (no download).
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}

sluice_npm_prefix() {
  echo "$SLUICE_REPO/build/npm"
}
