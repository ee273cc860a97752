#!/usr/bin/env bash
# Build the stand-in images of the Divan services (tests only).
#
# Sources: tests/fixtures/images/. Everything is built FROM the local base
# image divan-test/debian:trixie (no registry can be reached); apt-get and npm
# run inside the builds. Each image is cached by tag and by a hash of the
# fixture sources (label divan.fixture-hash): a second run costs nothing
# unless the sources changed or DIVAN_REBUILD_IMAGES=1 is set.
#
#   divan-test/backend:1.0.0          migrations 0001-0002
#   divan-test/backend:1.1.0          + 0003 (a second version for redeploys)
#   divan-test/backend:broken-migration  + 0004, which fails
#   divan-test/frontend:1.0.0|1.1.0   NEXT_PUBLIC_API_URL baked in
#   divan-test/activities-core:1.0.0|1.1.0
#
# Usage: tests/harness/build-standin-images.sh [--save DIR] [--versions "V ..."]
#   --save DIR  also write docker-save archives, one per tag, for registry-less
#               delivery: DIR/divan-standin-<tag>.tar (re-written only when an
#               image changed).
#   --versions  only these sets (default: 1.0.0 1.1.0 broken-migration); the
#               demo builds 1.0.0 alone (its inventory deploys nothing else).
# Environment: DIVAN_STANDIN_API_URL (default https://divan.test/api),
#              DIVAN_REBUILD_IMAGES=1, DIVAN_BASE_IMAGE (default divan-test/debian:trixie),
#              DIVAN_BUILD_EXTRA_CA_DIR (default /usr/local/share/ca-certificates):
#              the host's extra CA certificates (*.crt), given to the build
#              stage that runs npm (an HTTPS-intercepting egress proxy needs
#              them); they never reach the final images.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SRC="$ROOT/tests/fixtures/images"
BASE="${DIVAN_BASE_IMAGE:-divan-test/debian:trixie}"
API_URL="${DIVAN_STANDIN_API_URL:-https://divan.test/api}"
SAVE_DIR=""
VERSIONS="1.0.0 1.1.0 broken-migration"
while [ "$#" -gt 0 ]; do
  case "$1" in
    --save) SAVE_DIR="${2:?--save needs a directory}"; shift 2 ;;
    --versions) VERSIONS="${2:?--versions needs a list}"; shift 2 ;;
    *) echo "usage: $0 [--save DIR] [--versions \"1.0.0 1.1.0 broken-migration\"]" >&2; exit 2 ;;
  esac
done
VERSIONS="${VERSIONS//,/ }"
for v in $VERSIONS; do
  case "$v" in 1.0.0|1.1.0|broken-migration) ;; *) echo "unknown stand-in set: $v" >&2; exit 2 ;; esac
done
wanted() { [[ " $VERSIONS " == *" $1 "* ]]; }

docker image inspect "$BASE" >/dev/null 2>&1 || {
  echo "base image $BASE is missing: run tests/harness/build-base-images.sh first" >&2
  exit 1
}

# One hash for every fixture source and this script: any edit rebuilds.
HASH=$( (cd "$SRC" && find . -type f -print0 | sort -z | xargs -0 sha256sum; sha256sum "$ROOT/tests/harness/build-standin-images.sh" | cut -d" " -f1; echo "$BASE $API_URL") \
  | sha256sum | cut -c1-16)

# build TAG DIR [build-arg ...]
build() {
  local tag="$1" dir="$2"; shift 2
  if [ "${DIVAN_REBUILD_IMAGES:-0}" != 1 ] \
     && [ "$(docker image inspect -f '{{ index .Config.Labels "divan.fixture-hash" }}' "$tag" 2>/dev/null)" = "$HASH" ]; then
    echo "stand-in image ${tag}: cached"
    return 0
  fi
  local start log ctx
  start=$(date +%s)
  log=$(mktemp)
  # A throw-away context: the fixture sources plus the host's extra CAs.
  ctx=$(mktemp -d)
  cp -a "$SRC/$dir/." "$ctx/"
  mkdir -p "$ctx/extra-ca"
  cp "${DIVAN_BUILD_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"/*.crt "$ctx/extra-ca/" 2>/dev/null || true
  if ! docker build --label "divan.fixture-hash=$HASH" -t "$tag" "$@" "$ctx" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    rm -rf "$log" "$ctx"
    return 1
  fi
  rm -rf "$log" "$ctx"
  echo "stand-in image ${tag}: built in $(( $(date +%s) - start )) s"
}

build divan-test/standin-python:trixie base-python --build-arg "BASE_IMAGE=$BASE"
build divan-test/standin-node:trixie base-node --build-arg "BASE_IMAGE=$BASE"

for version in 1.0.0 1.1.0; do
  wanted "$version" || continue
  sets="1.0.0"
  [ "$version" = 1.1.0 ] && sets="1.0.0 1.1.0"
  build "divan-test/backend:$version" backend \
    --build-arg "DIVAN_VERSION=$version" --build-arg "MIGRATION_SETS=$sets"
  build "divan-test/frontend:$version" frontend \
    --build-arg "DIVAN_VERSION=$version" --build-arg "NEXT_PUBLIC_API_URL=$API_URL"
  build "divan-test/activities-core:$version" activities-core \
    --build-arg "DIVAN_VERSION=$version" --build-arg "BASE_IMAGE=$BASE"
done
if wanted broken-migration; then
  build divan-test/backend:broken-migration backend \
    --build-arg DIVAN_VERSION=broken-migration --build-arg "MIGRATION_SETS=1.0.0 1.1.0 broken-migration"
fi

[ -n "$SAVE_DIR" ] || exit 0
mkdir -p "$SAVE_DIR"
# save ARCHIVE IMAGE...: skipped when the archive holds these very image IDs.
save() {
  local archive="$SAVE_DIR/$1"; shift
  local ids
  ids=$(docker image inspect -f '{{ .Id }}' "$@" | tr '\n' ' ')
  if [ -f "$archive" ] && [ "$(cat "$archive.ids" 2>/dev/null)" = "$ids" ]; then
    echo "archive $archive: cached"
    return 0
  fi
  docker save -o "$archive.tmp" "$@"
  mv "$archive.tmp" "$archive"
  echo "$ids" >"$archive.ids"
  echo "archive $archive: written ($(du -h "$archive" | cut -f1))"
}
for version in 1.0.0 1.1.0; do
  wanted "$version" || continue
  save "divan-standin-$version.tar" "divan-test/backend:$version" \
    "divan-test/frontend:$version" "divan-test/activities-core:$version"
done
if wanted broken-migration; then
  save divan-standin-broken-migration.tar divan-test/backend:broken-migration
fi
