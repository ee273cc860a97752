#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: deploy_lock
short_description: Take, release or read the fleet-wide deploy lock, breaking a stale one
version_added: 0.1.0
description:
  - "One lock for a whole inventory, held on one managed host (the first app host): a directory
    O(path) made atomically with C(mkdir), with C(owner.json) inside naming the holder - the
    O(owner) fields of the playbook plus what the controller side adds: C(controller) (its host
    name), C(pid) and C(pid_start) (the C(ansible-playbook) process and its start time from
    C(/proc/<pid>/stat)), C(since) (UTC, C(YYYY-MM-DDTHH:MM:SSZ)), C(since_epoch) and C(token)
    (unique per take)."
  - "With O(state=present) it waits while a live run holds the lock, polling every O(poll) seconds
    up to O(timeout) seconds, then fails naming the holder and what to do. A stale holder is
    replaced at once, and RV(stale_released) and RV(msg) say whom it replaced. A holder is stale
    when it is older than O(ttl) seconds, or when it ran on this controller and its process is
    gone (or its pid is another process now, found by the start time). A holder on another
    controller can only go stale by O(ttl)."
  - "A lock whose C(owner.json) is missing, empty or unreadable (a run killed between C(mkdir) and
    the write) is stale once the directory is older than 60 seconds; before that it counts as a
    run in the middle of taking the lock."
  - "With O(state=absent) it releases the lock only when it carries O(token) (a lock held by
    another run is left in place, C(changed=false), RV(msg) names the holder); O(force=true)
    removes whatever holds it (C(playbooks/unlock.yml))."
  - "With O(state=query) it only reads the holder."
  - "On the lock host, taking (C(mkdir) and C(owner.json)), breaking a stale lock and releasing run
    under an C(flock) of the parent directory of O(path), so that two runs never interleave.
    C(owner.json) is written atomically (a temporary file in the lock directory, then C(rename)),
    mode C(0644); the directory is C(0750), its parent is created C(0750) when missing."
  - "A record written without a token (by the former lock tasks) gets one derived from its content
    (C(legacy-...)), so it can be released or broken like the others."
  - This is an action plugin (the waiting and the stale decision run on the controller) with a module
    of the same name that reads and writes the lock on the managed host. Standard library only.
author:
  - Divan platform team (@divan-platform)
options:
  path:
    description:
      - The lock directory on the managed host, for example C(/opt/divan/deploy.lock).
    type: path
    required: true
  state:
    description:
      - V(present) takes the lock (waiting for a live holder), V(absent) releases it, V(query) only
        reads who holds it and never changes anything.
    type: str
    choices: [present, absent, query]
    default: present
  owner:
    description:
      - Free-form fields that say who takes the lock, for example C(by) (the user), C(playbook),
        C(action) (V(deploy), V(rollback), V(converge)) and C(hosts) (a list). Only with O(state=present).
      - C(controller), C(pid), C(pid_start), C(since), C(since_epoch) and C(token) are added (and
        replace fields of the same name).
    type: dict
    default: {}
  ttl:
    description:
      - A lock older than this many seconds is stale whoever holds it.
    type: int
    default: 3600
  timeout:
    description:
      - How many seconds to wait for a live holder before failing (V(0) does not wait).
    type: int
    default: 600
  poll:
    description:
      - Seconds between two attempts while a live holder holds the lock.
    type: int
    default: 5
  token:
    description:
      - With O(state=absent), the token of the lock to release (RV(token) of the task that took it).
    type: str
  force:
    description:
      - With O(state=absent), remove the lock whoever holds it, and return the removed holder.
    type: bool
    default: false
  break_token:
    description:
      - Set by the action plugin, not by playbooks - with O(state=present), remove the lock first when its
        C(owner.json) still carries this token (the holder the controller found stale), then take it.
    type: str
notes:
  - The lock is also taken, and released, under C(--check) - a dry run must not overlap a real deploy.
  - C(changed) is true when the lock was taken or released; mask it with C(changed_when) if a run must
    report no change.
  - Run it with C(become) when O(path) is in a directory that only root may write.
seealso:
  - name: playbooks/unlock.yml
    description: Removes the deploy lock whoever holds it (O(force=true)).
    link: https://man7.org/linux/man-pages/man2/mkdir.2.html
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details: >-
      Acts the same in check mode: the lock is taken and released under C(--check) too, so that a dry run
      never overlaps a real deploy.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
"""

EXAMPLES = r"""
- name: Take the deploy lock on the first app host (waits while another run holds it)
  divan.platform.deploy_lock:
    path: /opt/divan/deploy.lock
    owner:
      by: "{{ deploy_by }}"
      playbook: playbooks/deploy.yml
      action: deploy
      hosts: "{{ ansible_play_hosts_all }}"
    timeout: 600
  delegate_to: "{{ groups['divan_app'] | first }}"
  run_once: true
  become: true
  register: deploy_lock

- name: Release it at the end (only if it is still ours)
  divan.platform.deploy_lock:
    path: /opt/divan/deploy.lock
    state: absent
    token: "{{ deploy_lock.token }}"
  delegate_to: "{{ groups['divan_app'] | first }}"
  run_once: true
  become: true

- name: Who holds it?
  divan.platform.deploy_lock:
    path: /opt/divan/deploy.lock
    state: query
  register: lock_state

- name: Remove it whoever holds it (playbooks/unlock.yml)
  divan.platform.deploy_lock:
    path: /opt/divan/deploy.lock
    state: absent
    force: true
"""

RETURN = r"""
acquired:
  description: Whether this task took the lock (or this same run already held it).
  returned: always
  type: bool
  sample: true
holder:
  description:
    - The record now in the lock (after a take), or the one found (query, release, a failed take);
      null when the lock is free.
    - "A lock with a missing or unreadable C(owner.json) is C({corrupt: true, age: <seconds>})."
  returned: always
  type: dict
  sample:
    by: alice
    playbook: playbooks/deploy.yml
    action: deploy
    hosts: [app1, app2]
    controller: ctl1
    pid: 12345
    pid_start: 9876543
    since: "2026-12-01T18:00:00Z"
    since_epoch: 1796148000.0
    token: 3f0c6e2a9b5d4e7f8a1b2c3d4e5f6a7b
stale_released:
  description: The stale holder that was removed before the lock was taken, or null.
  returned: always
  type: dict
  sample:
    by: bob
    controller: ctl1
    pid: 1234
    since: "2026-12-01T17:00:00Z"
    token: 0a1b2c3d4e5f60718293a4b5c6d7e8f9
waited:
  description: Seconds spent waiting for a live holder.
  returned: always
  type: float
  sample: 12.5
token:
  description: The token of the lock taken (give it to O(state=absent) to release), or the one given to release.
  returned: always
  type: str
  sample: 3f0c6e2a9b5d4e7f8a1b2c3d4e5f6a7b
released:
  description: Whether a lock was removed (O(state=absent)).
  returned: when O(state=absent)
  type: bool
  sample: true
msg:
  description: What happened, in words - whom the lock was taken from when it was stale, who holds it.
  returned: always
  type: str
  sample: >-
    released a stale deploy lock held by a deploy run by alice from ctl1 (process 1234, gone) since
    2026-12-01T18:00:00Z; took the deploy lock /opt/divan/deploy.lock
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.divan.platform.plugins.module_utils import deploy_lock as dl


def main():
    module = AnsibleModule(
        argument_spec=dl.ARGUMENT_SPEC,
        # the same in check mode: a dry run takes the lock too
        supports_check_mode=True,
    )
    p = module.params
    path = p['path']
    try:
        if p['state'] == 'query':
            result = dl.query(path)
        elif p['state'] == 'absent':
            result = dl.release(path, token=p['token'], force=p['force'])
        else:
            record = dict(p['owner'] or {})
            if not record.get('token'):
                module.fail_json(msg='owner.token is missing: the lock is taken through the divan.platform.deploy_lock '
                                     'action plugin, which adds it (is the collection installed whole?)')
            result = dl.take(path, record, break_token=p['break_token'])
            if result['stale_released'] is not None and result['acquired']:
                result['msg'] = '%s; %s' % (dl.stale_message(result['stale_released'], None), result['msg'])
    except dl.LockError as exc:
        module.fail_json(msg=str(exc), acquired=False, changed=False, holder=None, stale_released=None, token=None)
    result.setdefault('waited', 0.0)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
