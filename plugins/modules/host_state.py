#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: host_state
short_description: Say which Debian packages and paths are missing and which systemd units differ, in one read
version_added: 0.1.0
description:
  - Reads the dpkg database (C(dpkg-query)) for O(packages), the systemd state (C(systemctl show))
    of O(services) and whether O(paths) exist, and reports which packages are not installed, which
    units are not in the wanted boot and run state and which paths are missing. Changes nothing.
  - A role runs it once and gates its M(ansible.builtin.apt) and M(ansible.builtin.systemd_service)
    tasks on the answer, so that a run with nothing to do does not pay for one module per package
    list and unit. Those tasks still run whenever something differs, so they stay the only place
    where anything is changed.
  - The answer is strict. A package is missing unless dpkg reports it installed (status C(ii)); a
    name with a version or a pattern (C(name=1.2), C(name*)) always counts as missing. A unit differs
    unless it is loaded and exactly C(enabled) (or C(disabled)) and C(active) (or C(inactive)) as
    asked; O(services[].state=restarted) and O(services[].state=reloaded) always differ.
author:
  - Divan platform team (@divan-platform)
options:
  packages:
    description: Debian package names that must be installed.
    type: list
    elements: str
    default: []
  services:
    description: systemd units and their wanted state.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Unit name (C(docker), C(redis-server.service), C(divan-postgresql-backup.timer)).
        type: str
        required: true
      enabled:
        description: Wanted boot state; unset leaves it out of the comparison.
        type: bool
      state:
        description: Wanted run state, as in M(ansible.builtin.systemd_service); unset leaves it out.
        type: str
        choices: [started, stopped, restarted, reloaded]
  paths:
    description:
      - Paths that must exist (files, folders or links to something that exists). Only existence is
        read, not content, owner or mode.
    type: list
    elements: path
    default: []
requirements:
  - dpkg-query (for O(packages)) and systemctl (for O(services)) on the host.
notes:
  - Supports check mode (it only reads).
seealso:
  - module: ansible.builtin.package_facts
    description: Every installed package (slower, needs python3-apt).
  - module: ansible.builtin.service_facts
    description: Every unit on the host (slower).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: debian
"""

EXAMPLES = r"""
- name: Compare the Redis package and service with what is wanted (reads only)
  divan.platform.host_state:
    packages: [redis-server]
    services:
      - name: redis-server
        enabled: true
        state: started
  register: redis_host_state

- name: Install Redis
  ansible.builtin.apt:
    name: redis-server
    state: present
  when: redis_host_state.packages_missing | length > 0

- name: Start Redis now and at boot
  ansible.builtin.systemd_service:
    name: redis-server
    enabled: true
    state: started
  when: "'redis-server' in redis_host_state.services_differ"
"""

RETURN = r"""
packages_missing:
  description: The names of O(packages) that are not installed, in the order given.
  returned: always
  type: list
  elements: str
  sample: [redis-server]
packages_installed:
  description: Installed version of each name of O(packages) that is installed.
  returned: always
  type: dict
  sample: {caddy: "2.6.2-6+b13"}
services_differ:
  description: The names of O(services) whose boot or run state is not the wanted one.
  returned: always
  type: list
  elements: str
  sample: [docker]
services_reasons:
  description: Why each unit of RV(services_differ) differs.
  returned: always
  type: dict
  sample: {docker: ["not active (inactive)"]}
paths_missing:
  description: The paths of O(paths) that do not exist, in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/postgresql/17/main/postgresql.conf]
services:
  description: What systemd reported for each unit of O(services).
  returned: always
  type: dict
  sample: {docker: {load_state: loaded, active_state: active, unit_file_state: enabled}}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.divan.platform.plugins.module_utils.host_state import (
    RUN_STATES,
    compare,
    dpkg_query_command,
    parse_dpkg_query,
    parse_systemctl_show,
    queryable,
    systemctl_show_command,
)


def read_packages(module, packages):
    names = [p for p in packages if queryable(p)]
    if not names:
        return {}
    rc, out, err = module.run_command(dpkg_query_command(names), environ_update=dict(LC_ALL='C'))
    # dpkg-query exits 1 when a name is unknown to dpkg, and still lists the others.
    if rc not in (0, 1):
        module.fail_json(msg='dpkg-query failed (rc %d): %s' % (rc, err.strip()))
    return parse_dpkg_query(out)


def read_units(module, services):
    units = [svc['name'] for svc in services]
    if not units:
        return {}
    rc, out, err = module.run_command(systemctl_show_command(units), environ_update=dict(LC_ALL='C'))
    if rc != 0:
        module.fail_json(msg='systemctl show failed (rc %d): %s' % (rc, err.strip()))
    try:
        return parse_systemctl_show(out, units)
    except ValueError as exc:
        module.fail_json(msg=str(exc))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type='list', elements='str', default=[]),
            paths=dict(type='list', elements='path', default=[]),
            services=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                enabled=dict(type='bool'),
                state=dict(type='str', choices=list(RUN_STATES)),
            )),
        ),
        supports_check_mode=True,
    )
    packages = module.params['packages']
    services = module.params['services']
    paths = module.params['paths']
    existing = [p for p in paths if os.path.exists(p)]
    result = compare(packages, services, read_packages(module, packages), read_units(module, services),
                     paths, existing)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
