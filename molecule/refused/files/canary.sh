#!/usr/bin/env bash
# install | purge: a canary Debian package built on the host (no network)
# that holds what the refused roles would have brought: a package, a file
# under /etc and a systemd unit. The refused scenario installs it between two
# snapshots to show that files/snapshot.sh sees such a change.
set -euo pipefail
case "${1:?install or purge}" in
  install)
    work=$(mktemp -d)
    mkdir -p "$work/DEBIAN" "$work/etc/divan-refused-canary" "$work/lib/systemd/system"
    printf 'Package: divan-refused-canary\nVersion: 1.0\nArchitecture: all\nMaintainer: tests <tests@divan.test>\nDescription: refused scenario canary (tests only)\n' >"$work/DEBIAN/control"
    echo "canary=1" >"$work/etc/divan-refused-canary/canary.conf"
    printf '[Unit]\nDescription=refused scenario canary\n[Service]\nExecStart=/bin/true\n' >"$work/lib/systemd/system/divan-refused-canary.service"
    dpkg-deb --build --root-owner-group "$work" /tmp/divan-refused-canary.deb >/dev/null
    dpkg -i /tmp/divan-refused-canary.deb >/dev/null
    rm -rf "$work" /tmp/divan-refused-canary.deb
    systemctl daemon-reload
    ;;
  purge)
    dpkg --purge divan-refused-canary >/dev/null
    systemctl daemon-reload
    ;;
esac
