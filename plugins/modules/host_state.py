#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: host_state
short_description: Say which Debian packages and paths are missing and which systemd units and files differ, in one read
version_added: 0.1.0
description:
  - Reads the dpkg database (C(dpkg-query)) for O(packages), the systemd state (C(systemctl show))
    of O(services), whether O(paths) exist and what O(files) hold, and reports which packages are not
    installed, which units are not in the wanted boot and run state, which paths are missing and which
    files differ. Changes nothing.
  - A role runs it once and gates its M(ansible.builtin.apt) and M(ansible.builtin.systemd_service)
    tasks on the answer, so that a run with nothing to do does not pay for one module per package
    list and unit. Those tasks still run whenever something differs, so they stay the only place
    where anything is changed.
  - The same goes for M(ansible.builtin.template), M(ansible.builtin.copy) and M(ansible.builtin.file)
    tasks, which cost two to four round trips each even when nothing changes; O(files) takes the
    checksum, owner, group and mode such a task would write.
  - The answer is strict. A package is missing unless dpkg reports it installed (status C(ii)); a
    name with a version or a pattern (C(name=1.2), C(name*)) always counts as missing. A unit differs
    unless it is loaded and exactly C(enabled) (or C(disabled)) and C(active) (or C(inactive)) as
    asked; O(services[].state=restarted) and O(services[].state=reloaded) always differ. A file
    differs unless it is a regular file (a folder for O(files[].state=directory); a link never
    matches) with exactly the given checksum, owner, group and mode.
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
  files:
    description:
      - Files and folders and what they must be. A key that is not given is not compared.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path. A link is never followed and never matches.
        type: path
        required: true
      state:
        description: A regular file or a folder.
        type: str
        choices: [file, directory]
        default: file
      checksum:
        description:
          - SHA-1 of the wanted content, as M(ansible.builtin.copy) computes it, for example
            C("{{ content | ansible.builtin.hash('sha1') }}") or, for a template,
            C("{{ lookup('ansible.builtin.template', 'x.j2') | ansible.builtin.hash('sha1') }}").
        type: str
      owner:
        description: Owner name or uid.
        type: str
      group:
        description: Group name or gid.
        type: str
      mode:
        description:
          - Permission bits as 3 or 4 octal digits (C("0640")). A symbolic mode (C(u=rw,g=r)) is not
            compared and always counts as differing.
        type: raw
      get_checksum:
        description:
          - Return the SHA-1 of the content in RV(files) even without O(files[].checksum), for a
            task that compares it later in the run.
        type: bool
        default: false
      get_content:
        description:
          - Return the content in RV(files) (UTF-8 text; a file over 1 MiB or not a regular file gives
            V(null)). Ask only for files that hold no secret, since results are logged.
        type: bool
        default: false
  lines:
    description:
      - Lines that M(ansible.builtin.lineinfile) (O(ansible.builtin.lineinfile#module:state=present))
        would leave alone. A line differs unless the file exists and the last line that C(regexp)
        matches is C(line) exactly, which is when lineinfile changes nothing.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file.
        type: path
        required: true
      regexp:
        description: The lineinfile task's C(regexp) (Python regular expression, searched in each line).
        type: str
        required: true
      line:
        description: The lineinfile task's C(line).
        type: str
        required: true
  locales:
    description:
      - Locale names (C(en_US.UTF-8)) that must be generated (C(locale -a)) and that Debian can
        generate (C(/usr/share/i18n/SUPPORTED)).
    type: list
    elements: str
    default: []
requirements:
  - dpkg-query (for O(packages)), systemctl (for O(services)) and locale (for O(locales)) on the host.
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

- name: Compare the Redis configuration with what the template task below would write (reads only)
  divan.platform.host_state:
    files:
      - path: /etc/redis/redis.conf
        checksum: "{{ lookup('ansible.builtin.template', 'redis.conf.j2') | ansible.builtin.hash('sha1') }}"
        owner: redis
        group: redis
        mode: "0640"
  register: redis_files_state
- name: Write the Redis configuration
  ansible.builtin.template:
    src: redis.conf.j2
    dest: /etc/redis/redis.conf
    owner: redis
    group: redis
    mode: "0640"
  when: "'/etc/redis/redis.conf' in redis_files_state.files_differ"
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
files_differ:
  description: The paths of O(files) that are missing or differ, in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/redis/redis.conf]
files_reasons:
  description: Why each path of RV(files_differ) differs.
  returned: always
  type: dict
  sample: {/etc/redis/redis.conf: ["content differs", "mode is 0644"]}
files:
  description:
    - What was read at each path of O(files) - exists, kind (file, directory, link, other), owner,
      group, mode, checksum (when a checksum was given or asked for) and content (when asked for).
  returned: always
  type: dict
  sample: {/opt/divan/compose.yaml: {exists: true, kind: file, owner: root, group: root, mode: "0644",
           checksum: 0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33, content: null}}
lines_differ:
  description: The paths of O(lines) where lineinfile would change something, in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/postgresql-common/createcluster.conf]
lines_reasons:
  description: Why each path of RV(lines_differ) differs.
  returned: always
  type: dict
  sample: {/etc/postgresql-common/createcluster.conf: ["no line matches ^#?\\s*initdb_options\\s*="]}
locales_missing:
  description:
    - The names of O(locales) that C(locale -a) does not list (compared the way glibc names them,
      so C(en_US.UTF-8) matches C(en_US.utf8)).
  returned: always
  type: list
  elements: str
  sample: [de_DE.UTF-8]
locales_unsupported:
  description:
    - The names of O(locales) that C(/usr/share/i18n/SUPPORTED) does not list. Empty when that file
      cannot be read (the C(locales) package is not installed yet).
  returned: always
  type: list
  elements: str
  sample: [en_XX.UTF-8]
services:
  description: What systemd reported for each unit of O(services).
  returned: always
  type: dict
  sample: {docker: {load_state: loaded, active_state: active, unit_file_state: enabled}}
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.divan.platform.plugins.module_utils.host_state import (
    FILE_STATES,
    RUN_STATES,
    compare,
    SUPPORTED_LOCALES_FILE,
    compare_files,
    compare_lines,
    compare_locales,
    dpkg_query_command,
    parse_dpkg_query,
    parse_supported_locales,
    parse_systemctl_show,
    queryable,
    read_file_state,
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


def read_text(path):
    try:
        with open(path, 'rb') as fh:
            return fh.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def read_locales(module, locales):
    if not locales:
        return dict(locales_missing=[], locales_unsupported=[])
    rc, out, err = module.run_command(['locale', '-a'], environ_update=dict(LC_ALL='C'))
    if rc != 0:
        module.fail_json(msg='locale -a failed (rc %d): %s' % (rc, err.strip()))
    try:
        with open(SUPPORTED_LOCALES_FILE) as fh:
            supported = parse_supported_locales(fh.read())
    except (IOError, OSError):
        supported = None
    return compare_locales(locales, out, supported)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type='list', elements='str', default=[]),
            paths=dict(type='list', elements='path', default=[]),
            files=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                state=dict(type='str', choices=list(FILE_STATES), default='file'),
                checksum=dict(type='str'),
                owner=dict(type='str'),
                group=dict(type='str'),
                mode=dict(type='raw'),
                get_checksum=dict(type='bool', default=False),
                get_content=dict(type='bool', default=False),
            )),
            lines=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                regexp=dict(type='str', required=True),
                line=dict(type='str', required=True),
            )),
            locales=dict(type='list', elements='str', default=[]),
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
    files = module.params['files']
    # A path given twice is read once, with everything either entry asks for.
    wants = {}
    for f in files:
        checksum, content = wants.get(f['path'], (False, False))
        wants[f['path']] = (checksum or f['checksum'] is not None or f['get_checksum'], content or f['get_content'])
    seen = dict((path, read_file_state(path, checksum=checksum, content=content))
                for path, (checksum, content) in wants.items())
    result.update(compare_files(files, seen))
    texts = {}
    for want in module.params['lines']:
        texts[want['path']] = read_text(want['path'])
    try:
        result.update(compare_lines(module.params['lines'], texts))
    except re.error as exc:
        module.fail_json(msg='lines: a regexp does not compile: %s' % exc)
    result.update(read_locales(module, module.params['locales']))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
