#!/usr/bin/env bash
# What a Divan role changes on a host, one line per item, sorted: installed
# packages, files and folders under /etc (with a checksum for files) and
# /var/lib, /var/backups, /srv, /opt, /usr/local (type, mode, owner, size),
# systemd unit files with their state, generated locales and listening
# sockets. Two snapshots of an untouched host are equal (nothing here moves
# by itself: systemd's own state, the apt lock and the journal are left out;
# dpkg's database is read through dpkg-query, not as files).
# Used by the refused scenario (converge.yml and tests/test_refused.py).
set -euo pipefail
{
  dpkg-query -W -f='package ${binary:Package} ${Version} ${db:Status-Abbrev}\n'
  find /etc -xdev -type f -printf '%p\n' | sort | xargs -r -d '\n' sha256sum | sed 's/^/etc-file /'
  find /etc -xdev ! -type f -printf 'etc %p %y %m %u:%g %l\n'
  find /var/lib /var/backups /srv /opt /usr/local -xdev \
    \( -path /var/lib/systemd -o -path /var/lib/dpkg -o -path /var/lib/apt/lists/lock \
       -o -path /var/lib/apt/lists/partial \) -prune -o -printf 'var %p %y %m %u:%g %s\n'
  systemctl list-unit-files --no-legend --no-pager | sed 's/^/unit-file /'
  locale -a | sed 's/^/locale /'
  ss -Htln | awk '{print "listen " $4}'
} | sort
