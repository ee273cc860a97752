#!/usr/bin/env bash
# ansible-test sanity for the whole collection.
#
# ansible-test wants the collection at .../ansible_collections/divan/platform,
# so this copies the checkout's files (git-tracked plus untracked files that
# .gitignore does not exclude; never .venv, .collections or .cache) to
# .cache/sanity.XXXXXX/ansible_collections/divan/platform and runs
# `ansible-test sanity --python 3.11` there (no target restriction: every
# file of the collection) with the virtualenv's ansible-test.
#
# ansible-test makes a virtualenv per sanity test and installs its pinned
# requirements from PyPI (--requirements). HOME points at .cache/sanity-home
# so those virtualenvs (~/.ansible/test/venv) and pip's cache are kept there:
# the first run downloads, later runs reuse them.
#
# All default sanity tests run; none is skipped. The few per-file ignores,
# each with its reason, are in tests/sanity/ignore-2.19.txt.
#
# `tests/harness/sanity.sh units` runs `ansible-test units --venv` on the same
# copy instead: tests/unit/ in a virtualenv made by ansible-test with its
# pytest requirements and tests/unit/requirements.txt (from PyPI, cached the
# same way).
# Usage: tests/harness/sanity.sh [extra ansible-test sanity args, e.g. --test pylint]
#        tests/harness/sanity.sh units [extra ansible-test units args]
#        DIVAN_SANITY_TARGETS="plugins/modules/http_check.py ..." limits the targets (default: the whole collection).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${DIVAN_VENV_BIN:-$ROOT/.venv/bin}"
# A copy per run (.cache/sanity.XXXXXX, .cache/units.XXXXXX, removed at the
# end), so that runs can go side by side: sanity and units from pytest -n in
# tests/lint, or two engineers' runs in one checkout.
mode=sanity
[ "${1:-}" = units ] && mode=units
mkdir -p "$ROOT/.cache"
WORK="$(mktemp -d "$ROOT/.cache/$mode.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
DEST="$WORK/ansible_collections/divan/platform"
export HOME="$ROOT/.cache/sanity-home"
export PIP_CACHE_DIR="$HOME/.cache/pip"
mkdir -p "$HOME"

[ -x "$BIN/ansible-test" ] || { echo "sanity: $BIN/ansible-test not found; run make venv" >&2; exit 2; }

# ansible-test bootstraps pip into each of its virtualenvs with a get-pip.py
# that it downloads from ci-files.testing.ansible.com, which cannot be reached
# from here. It reads the script from its cache first, so put a stand-in
# there: pip from the interpreter's own ensurepip, then `pip install` of the
# packages ansible-test asks for (its pinned pip), from PyPI.
pip_version="$("$BIN/python" - <<'PY'
import os, re, ansible_test
src = open(os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')).read()
m = re.search(r"pip='([0-9.]+)'", src)
print(m.group(1) if m else '24.2')
PY
)"
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ ! -f "$get_pip" ]; then
  mkdir -p "$(dirname "$get_pip")"
  cat > "$get_pip" <<'PY'
"""Stand-in for get-pip.py written by tests/harness/sanity.sh: ensurepip, then pip install the arguments."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet'] + args)
PY
fi

mkdir -p "$DEST"
cd "$ROOT"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do
      case "$f" in .venv/*|.collections/*|.cache/*) continue ;; esac
      [ -f "$f" ] && printf '%s\0' "$f"
    done \
  | tar --null -T - -cf - | tar -xf - -C "$DEST"

cd "$DEST"
# ansible-test lists content with git from the nearest .git upwards, which
# would be the checkout's own (where .cache is ignored). A throwaway repository
# in the copy (nothing committed; ansible-test lists untracked files too)
# makes the copy its own content root. The checkout's git state is untouched.
git init -q .
export PATH="$BIN:$PATH"
start=$(date +%s)
set +e
# shellcheck disable=SC2086  # targets are a space-separated list of paths
if [ "$mode" = units ]; then
  shift
  "$BIN/ansible-test" units --python 3.11 --venv --requirements --color no "$@" ${DIVAN_SANITY_TARGETS:-}
else
  "$BIN/ansible-test" sanity --python 3.11 --requirements --color no "$@" ${DIVAN_SANITY_TARGETS:-}
fi
rc=$?
set -e
echo "$mode: exit $rc after $(( $(date +%s) - start ))s"
exit $rc
