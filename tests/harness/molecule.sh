#!/usr/bin/env bash
# Run molecule scenarios through the same pytest runner as `make test`.
# Usage: tests/harness/molecule.sh [scenario ...]  (or DIVAN_SCENARIOS="a b")
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$#" -gt 0 ]; then
  export DIVAN_SCENARIOS="$*"
fi
export PATH="$PWD/.venv/bin:$PATH" NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0
export ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$PWD/.collections"
exec pytest -p no:cacheprovider tests/scenarios -v -rfE --durations=0
