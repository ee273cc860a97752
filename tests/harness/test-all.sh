#!/usr/bin/env bash
# The README's test command (`make test`) and what .ci/run calls: two pytest
# runs, each closing with its own summary line.
#
#   1. The fast checks, no Docker needed: lint (yamllint, ansible-lint, the
#      generated docs), ansible-test sanity, the unit tests. A failure ends the
#      suite here, a few minutes in.
#   2. The module integration tests against real servers, and the molecule
#      scenarios.
#
# The base and stand-in images (cached by tag) are built in the background
# while run 1 goes on; run 2 starts when they are ready. The exit code is
# non-zero when anything failed. DIVAN_SCENARIOS limits the scenarios,
# DIVAN_TEST_WORKERS sets the pytest workers of each run (default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH" NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0
export ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$PWD/.collections"
export MOLECULE_GLOB="molecule/*/molecule.yml"
workers="${DIVAN_TEST_WORKERS:-2}"
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start )) s"; }
mkdir -p .cache/logs
rm -f .cache/logs/timings.json

# The images, in their own process group (so that a failure of run 1 can
# stop the build with everything it started).
images_log=.cache/logs/images.log
setsid bash -c 'tests/harness/build-base-images.sh && tests/harness/build-standin-images.sh --save .cache/images && tests/harness/build-vendor-repos.sh' \
  >"$images_log" 2>&1 &
images_pid=$!
# Interrupted or failed early: stop the build too.
trap 'kill -TERM -- "-$images_pid" 2>/dev/null || true' EXIT

echo "== fast checks: lint, sanity, unit tests"
fast_rc=0
pytest -p no:cacheprovider -v -rfE --durations=10 -n "$workers" --dist load \
  tests/lint tests/unit || fast_rc=$?
echo "fast checks: rc=${fast_rc}, $(elapsed)"
if [ "$fast_rc" -ne 0 ]; then
  echo "fast checks failed: integration tests and scenarios not run"
  exit "$fast_rc"
fi

images_rc=0
wait "$images_pid" || images_rc=$?
cat "$images_log"
echo "images: rc=${images_rc}, ready at $(elapsed)"
[ "$images_rc" -eq 0 ] || { echo "image build failed: integration tests and scenarios not run"; exit "$images_rc"; }

# Run 2, on DIVAN_TEST_WORKERS workers: the scenarios spend much of their
# time waiting on apt, systemd and image loads. Tests go to the workers one
# at a time in collection order, and the scenarios are collected longest
# first (tests/scenarios/test_molecule.py), so the long ones start at once
# and the short ones (and the integration tests) fill the gaps.
echo "== integration tests and molecule scenarios"
rc=0
pytest -p no:cacheprovider -v -rfE --durations=15 -n "$workers" --dist load --maxschedchunk 1 \
  tests/scenarios tests/integration || rc=$?
echo "integration tests and scenarios: rc=${rc}; whole suite: $(elapsed)"
[ -f .cache/logs/timings.json ] && { echo "molecule step timings (s):"; cat .cache/logs/timings.json; }
exit "$rc"
