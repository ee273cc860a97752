#!/usr/bin/env bash
# Release tarball of the stand-in activities-core, for the pm2 runtime
# (divan.platform.activities_core, activities_core_source=tarball). Tests only.
#
# Laid out like `npm pack` (files under package/), plus the package-lock.json
# that `npm ci` needs (npm pack leaves it out): the sources of
# tests/fixtures/images/activities-core with the given version, and a lock
# file resolved against the npm registry (through the host's npm; behind an
# HTTPS-intercepting proxy set NODE_EXTRA_CA_CERTS).
#
# Usage: tests/harness/build-activities-core-tarball.sh OUT_DIR [VERSION]
#   writes OUT_DIR/activities-core-VERSION.tgz (VERSION default 1.0.0) and
#   prints its path; an existing tarball built from the same sources is kept
#   (so its checksum, and a converge, stay the same).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SRC="$ROOT/tests/fixtures/images/activities-core"
OUT="${1:?usage: $0 OUT_DIR [VERSION]}"
VERSION="${2:-1.0.0}"
TARBALL="$OUT/activities-core-$VERSION.tgz"

HASH=$( (cd "$SRC" && sha256sum index.js package.json; sha256sum "$ROOT/tests/harness/build-activities-core-tarball.sh" | cut -d" " -f1; echo "$VERSION") | sha256sum | cut -c1-16)
if [ -f "$TARBALL" ] && [ "$(cat "$TARBALL.hash" 2>/dev/null)" = "$HASH" ]; then
  echo "$TARBALL"
  exit 0
fi

mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/package"
cp "$SRC/index.js" "$work/package/"
sed -E "s/\"version\": *\"[^\"]*\"/\"version\": \"$VERSION\"/" "$SRC/package.json" >"$work/package/package.json"
(cd "$work/package" && npm install --package-lock-only --no-audit --no-fund --loglevel=error >/dev/null)
test -s "$work/package/package-lock.json"
tar -C "$work" --owner=0 --group=0 --numeric-owner --sort=name --mtime=@0 -czf "$TARBALL.tmp" package
mv "$TARBALL.tmp" "$TARBALL"
echo "$HASH" >"$TARBALL.hash"
echo "$TARBALL"
