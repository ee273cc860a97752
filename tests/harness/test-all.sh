#!/usr/bin/env bash
# The README's test command (`make test`) and what .ci/run calls.
# Builds the base images (cached), then runs every check as one pytest run:
# lint, unit tests, module integration tests against real servers, and the
# molecule scenarios. DIVAN_SCENARIOS limits the scenarios.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH" NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0
export ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$PWD/.collections"
start=$(date +%s)
tests/harness/build-base-images.sh
echo "base images ready in $(( $(date +%s) - start )) s"
# The stand-in Divan images and their archives, once, before scenarios that
# share them run side by side.
tests/harness/build-standin-images.sh --save .cache/images
echo "stand-in images ready in $(( $(date +%s) - start )) s"
# DIVAN_TEST_WORKERS parallel pytest workers (default 2): the scenarios
# spend much of their time waiting on apt, systemd and image loads. Tests go
# to the workers one at a time in collection order, and the scenarios are
# collected longest first (tests/scenarios/test_molecule.py), so the long
# ones start at once and the short ones fill the gaps.
rc=0
pytest -p no:cacheprovider -v -rfE --durations=15 -n "${DIVAN_TEST_WORKERS:-2}" --dist load --maxschedchunk 1 \
  tests/scenarios tests/lint tests/unit tests/integration || rc=$?
echo "whole suite: $(( $(date +%s) - start )) s"
[ -f .cache/logs/timings.json ] && { echo "molecule step timings (s):"; cat .cache/logs/timings.json; }
exit "$rc"
