#!/usr/bin/env bash
# Build the stand-in images of the Divan services (tests only).
#
# Sources: tests/fixtures/images/ (its README says what each image reproduces
# of the real platform, flaws included). Everything is built FROM the local
# base image divan-test/debian:trixie (no registry can be reached); apt-get
# and npm run inside the builds. Each image is cached by tag and by a hash of
# the fixture sources (label divan.fixture-hash): a second run costs nothing
# unless the sources changed or DIVAN_REBUILD_IMAGES=1 is set.
#
# Sets (--versions):
#   1.0.0             backend:1.0.0 (migrations 001-003, 020, 021), frontend:1.0.0,
#                     activities-core:1.0.0
#   1.1.0             the same at 1.1.0, backend + 022 (a second version for redeploys)
#   broken-migration  backend:broken-migration: 1.1.0 + 023, which fails
#   no-migrations     backend:no-migrations: the 1.1.0 app without /app/migrations
#   gunicorn          backend:1.0.0-gunicorn: 1.0.0 plus Debian's gunicorn
#
# Usage: tests/harness/build-standin-images.sh [--save DIR] [--versions "SET ..."]
#   --save DIR  also write docker-save archives for registry-less delivery,
#               each with a DIR/<archive>.ids file (re-written only when an
#               image changed): divan-standin-1.0.0.tar and -1.1.0.tar (the
#               three services), divan-standin-broken-migration.tar,
#               -no-migrations.tar, -gunicorn.tar (the backend alone).
#   --versions  only these sets (default: all); the demo builds 1.0.0 alone
#               (its inventory deploys nothing else).
# Environment: DIVAN_STANDIN_SITE_URL (default https://divan.test): the
#              frontend's NEXT_PUBLIC_* URLs are baked from it (<site>/api,
#              <site>, <site>/activities, wss://<host>/activities),
#              DIVAN_REBUILD_IMAGES=1, DIVAN_BASE_IMAGE (default divan-test/debian:trixie),
#              DIVAN_BUILD_EXTRA_CA_DIR (default /usr/local/share/ca-certificates):
#              the host's extra CA certificates (*.crt), given to the build
#              stage that runs npm (an HTTPS-intercepting egress proxy needs
#              them); they never reach the final images.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SRC="$ROOT/tests/fixtures/images"
BASE="${DIVAN_BASE_IMAGE:-divan-test/debian:trixie}"
SITE_URL="${DIVAN_STANDIN_SITE_URL:-https://divan.test}"
SITE_URL="${SITE_URL%/}"
SITE_HOST="${SITE_URL#*://}"
SITE_HOST="${SITE_HOST%%/*}"
ALL_SETS="1.0.0 1.1.0 broken-migration no-migrations gunicorn"
SAVE_DIR=""
VERSIONS="$ALL_SETS"
while [ "$#" -gt 0 ]; do
  case "$1" in
    --save) SAVE_DIR="${2:?--save needs a directory}"; shift 2 ;;
    --versions) VERSIONS="${2:?--versions needs a list}"; shift 2 ;;
    *) echo "usage: $0 [--save DIR] [--versions \"$ALL_SETS\"]" >&2; exit 2 ;;
  esac
done
VERSIONS="${VERSIONS//,/ }"
for v in $VERSIONS; do
  case "$v" in 1.0.0|1.1.0|broken-migration|no-migrations|gunicorn) ;; *) echo "unknown stand-in set: $v" >&2; exit 2 ;; esac
done
wanted() { [[ " $VERSIONS " == *" $1 "* ]]; }

docker image inspect "$BASE" >/dev/null 2>&1 || {
  echo "base image $BASE is missing: run tests/harness/build-base-images.sh first" >&2
  exit 1
}

# One hash for every fixture source and this script: any edit rebuilds.
HASH=$( (cd "$SRC" && find . -type f -print0 | sort -z | xargs -0 sha256sum; sha256sum "$ROOT/tests/harness/build-standin-images.sh" | cut -d" " -f1; echo "$BASE $SITE_URL") \
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

frontend_args=(
  --build-arg "NEXT_PUBLIC_BACKEND_URL=$SITE_URL/api"
  --build-arg "NEXT_PUBLIC_API_BASE_URL=$SITE_URL/api"
  --build-arg "NEXT_PUBLIC_SOCKET_URL=$SITE_URL"
  --build-arg "NEXT_PUBLIC_ACTIVITIES_CORE_URL=$SITE_URL/activities"
  --build-arg "NEXT_PUBLIC_ACTIVITIES_CORE_SOCKET_URL=wss://$SITE_HOST/activities"
)
for version in 1.0.0 1.1.0; do
  wanted "$version" || continue
  sets="1.0.0"
  [ "$version" = 1.1.0 ] && sets="1.0.0 1.1.0"
  build "divan-test/backend:$version" backend \
    --build-arg "DIVAN_VERSION=$version" --build-arg "MIGRATION_SETS=$sets"
  build "divan-test/frontend:$version" frontend \
    --build-arg "DIVAN_VERSION=$version" "${frontend_args[@]}"
  build "divan-test/activities-core:$version" activities-core \
    --build-arg "DIVAN_VERSION=$version" --build-arg "BASE_IMAGE=$BASE"
done
if wanted broken-migration; then
  build divan-test/backend:broken-migration backend \
    --build-arg DIVAN_VERSION=broken-migration --build-arg "MIGRATION_SETS=1.0.0 1.1.0 broken-migration"
fi
if wanted no-migrations; then
  # An empty MIGRATION_SETS: no /app/migrations directory at all.
  build divan-test/backend:no-migrations backend \
    --build-arg DIVAN_VERSION=no-migrations --build-arg "MIGRATION_SETS="
fi
if wanted gunicorn; then
  build divan-test/backend:1.0.0-gunicorn backend \
    --build-arg DIVAN_VERSION=1.0.0 --build-arg MIGRATION_SETS=1.0.0 --build-arg WITH_GUNICORN=true
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
if wanted no-migrations; then
  save divan-standin-no-migrations.tar divan-test/backend:no-migrations
fi
if wanted gunicorn; then
  save divan-standin-gunicorn.tar divan-test/backend:1.0.0-gunicorn
fi
