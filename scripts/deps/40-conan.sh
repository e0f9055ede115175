#!/usr/bin/env bash
# Conan 2 (from PyPI, into the project's venv), for scripts/conan-create.sh: `conan create`
# of the recipe against the system's libraries. Pinned, so the recipe is tested with a known
# Conan.
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

sluice_pip conan==2.34.0
