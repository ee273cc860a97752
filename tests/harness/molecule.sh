#!/usr/bin/env bash
# Run molecule scenarios by name through the same pytest runner as `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DIVAN_SCENARIOS="${*:-}"
exec .venv/bin/pytest -p no:cacheprovider tests/scenarios -v --durations=0
