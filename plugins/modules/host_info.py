#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: host_info
short_description: Read which Debian packages are installed and which systemd units are in a given state
version_added: 0.1.0
description:
  - Reads the dpkg database (C(dpkg-query)) for O(packages) and the systemd state (C(systemctl show))
    of O(services), in one module run. Changes nothing; it always reports C(changed=false).
  - A role that runs it once may skip an M(ansible.builtin.apt) or M(ansible.builtin.systemd_service)
    task when the read B(confirmed) everything that task would act on, so that a run with nothing to
    do does not pay for one module run per package list and unit. The answers are confirmations only;
    a package or unit that was not asked for, could not be read or is in any other state is not in
    RV(installed) or RV(services_confirmed), so a task gated on them runs and decides.
  - Gate a task on the very variable it acts on. For M(ansible.builtin.apt) with C(name="{{ pkgs }}"),
    read O(packages) from the same C(pkgs) and skip only when every name of C(pkgs) is in RV(installed)
    (a C(subset) test, see the examples); for M(ansible.builtin.systemd_service), keep
    the unit's name, enabled and state in one dictionary C(unit), read O(services) with C([unit]) and
    skip only when C(unit in result.services_confirmed).
  - The reading is strict. A package is installed only when dpkg reports status C(ii); a name with a
    version or a pattern (C(name=1.2), C(name*)) is never confirmed. A unit is confirmed only when it is
    loaded and exactly C(enabled) (or C(disabled)) and C(active) (or C(inactive)) as asked;
    O(services[].state=restarted) and O(services[].state=reloaded) are never confirmed.
author:
  - Divan platform team (@divan-platform)
options:
  packages:
    description: Debian package names to look up.
    type: list
    elements: str
    default: []
  services:
    description:
      - systemd units and the boot and run state to confirm, as the M(ansible.builtin.systemd_service)
        task that they gate takes them.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Unit name (C(docker), C(redis-server.service), C(divan-postgresql-backup.timer)).
        type: str
        required: true
      enabled:
        description: Boot state to confirm; unset leaves it out of the comparison.
        type: bool
      state:
        description: Run state to confirm, as in M(ansible.builtin.systemd_service); unset leaves it out.
        type: str
        choices: [started, stopped, restarted, reloaded]
requirements:
  - dpkg-query (for O(packages)) and systemctl (for O(services)) on the host.
notes:
  - It only reads, so it runs in check mode as in a normal run.
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
    details: The module only reads, so check mode runs it as a normal run does.
  diff_mode:
    support: none
  platform:
    platforms: debian
"""

EXAMPLES = r"""
# vars/main.yml of the role:
#   redis_unit: {name: redis-server, enabled: true, state: started}
- name: Read the Redis package and service
  divan.platform.host_info:
    packages: "{{ redis_packages }}"
    services: ["{{ redis_unit }}"]
  register: redis_info

- name: Install Redis
  ansible.builtin.apt:
    name: "{{ redis_packages }}"
    state: present
  # Skipped only when dpkg reported every one of these very names installed.
  when: redis_packages is not subset(redis_info.installed)

- name: Start Redis now and at boot
  ansible.builtin.systemd_service:
    name: "{{ redis_unit.name }}"
    enabled: "{{ redis_unit.enabled }}"
    state: "{{ redis_unit.state }}"
  # Skipped only when this very entry was read and found in exactly this state.
  when: redis_unit not in redis_info.services_confirmed
"""

RETURN = r"""
installed:
  description:
    - The names of O(packages) that dpkg reports installed (status C(ii)), in the order given. A name
      that is not here is not confirmed (not installed, half-installed, unknown or not a plain name).
  returned: always
  type: list
  elements: str
  sample: [redis-server]
versions:
  description: The installed version of each name of RV(installed).
  returned: always
  type: dict
  sample: {caddy: "2.6.2-6+b13"}
services_confirmed:
  description:
    - The entries of O(services) whose unit is loaded and exactly in the wanted boot and run state,
      each as given (the keys that were set, with the values after type conversion, so
      C(enabled="yes") comes back as V(true)). An entry that is not here is not confirmed.
  returned: always
  type: list
  elements: dict
  sample: [{name: docker, enabled: true, state: started}]
services_reasons:
  description: Why each unit of O(services) that is not confirmed is not.
  returned: always
  type: dict
  sample: {docker: ["not active (inactive)"]}
units:
  description: What systemd reported for each unit of O(services).
  returned: always
  type: dict
  sample: {docker: {load_state: loaded, active_state: active, unit_file_state: enabled}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.divan.platform.plugins.module_utils.host_info import (
    RUN_STATES,
    dpkg_query_command,
    parse_dpkg_query,
    parse_systemctl_show,
    queryable,
    summarize,
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
    result = summarize(packages, services, read_packages(module, packages), read_units(module, services))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
