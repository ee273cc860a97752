#!/usr/bin/env bash
# Build the Debian base images that the molecule scenarios converge.
#
# No registry can be reached from our machines, so images are made with
# debootstrap from Debian's mirror and imported with `docker import`.
# Each image is cached by tag: a second run costs nothing unless
# DIVAN_REBUILD_IMAGES=1 is set.
#
# Usage: tests/harness/build-base-images.sh [suite ...]   (default: trixie bookworm)
set -euo pipefail

MIRROR="${DIVAN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PREFIX="${DIVAN_IMAGE_PREFIX:-divan-test/debian}"
suites=("$@")
[ "${#suites[@]}" -gt 0 ] || suites=(trixie bookworm)

# What every converge target needs: systemd as PID 1, python3 for Ansible,
# python3-apt for ansible.builtin.apt, and the basic network tools.
INCLUDE="systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,iproute2,procps,gnupg,curl,locales,sudo,less"

build_one() {
  local suite="$1" tag="${PREFIX}:$1"
  if [ "${DIVAN_REBUILD_IMAGES:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image ${tag}: cached"
    return 0
  fi
  local root start
  start=$(date +%s)
  root=$(mktemp -d "/var/tmp/divan-rootfs-${suite}.XXXXXX")
  trap 'rm -rf "$root"' RETURN
  echo "base image ${tag}: debootstrap ${suite} from ${MIRROR}"
  debootstrap --variant=minbase --include="$INCLUDE" "$suite" "$root" "$MIRROR" >"$root.log" 2>&1 || {
    tail -n 40 "$root.log" >&2
    return 1
  }
  rm -f "$root.log"

  # A container has no consoles, no udev and no kernel modules: mask what
  # would only fail or wait, and give the image a stable machine-id at boot.
  for unit in getty@tty1.service console-getty.service systemd-udevd.service \
      systemd-udev-trigger.service systemd-modules-load.service \
      sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
      systemd-firstboot.service systemd-remount-fs.service apt-daily.timer \
      apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  : >"$root/etc/machine-id"

  # Docker mounts /proc/sys read-only; nested Docker needs it writable
  # (IPv6 sysctls at container start). Remount it early at every boot.
  cat >"$root/etc/systemd/system/divan-proc-sys-rw.service" <<'UNIT'
[Unit]
Description=Remount /proc/sys read-write (test containers only)
DefaultDependencies=no
Before=sysinit.target

[Service]
Type=oneshot
ExecStart=/bin/mount -o remount,rw /proc/sys
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
UNIT
  ln -sf ../divan-proc-sys-rw.service "$root/etc/systemd/system/sysinit.target.wants/divan-proc-sys-rw.service" 2>/dev/null || {
    mkdir -p "$root/etc/systemd/system/sysinit.target.wants"
    ln -sf ../divan-proc-sys-rw.service "$root/etc/systemd/system/sysinit.target.wants/divan-proc-sys-rw.service"
  }

  # Same sources as a real server of that release, on the reachable mirror.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: ${MIRROR}
Suites: ${suite} ${suite}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  # Keep the image small; apt lists are fetched by the roles' update_cache.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  # An old timestamp, so that the first `apt update_cache` with a
  # cache_valid_time fetches the lists, as on a server with stale lists.
  touch -d '2000-01-01' "$root/var/lib/apt/lists"
  echo "en_US.UTF-8 UTF-8" >"$root/etc/locale.gen"

  tar -C "$root" -c . | docker import \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change 'ENV container=docker' \
    - "$tag" >/dev/null
  echo "base image ${tag}: built in $(( $(date +%s) - start )) s"
}

for s in "${suites[@]}"; do
  build_one "$s"
done
