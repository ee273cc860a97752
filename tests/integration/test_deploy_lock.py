# -*- coding: utf-8 -*-
"""divan.platform.deploy_lock with real ansible-playbook processes on localhost (a temporary lock path).

Each playbook takes the lock, writes what it got (<who>.take.json) and when
(<who>.taken), holds the lock with `sleep`, writes the time it stopped
holding it (<who>.held), and releases it with its token.
The runs are started in their own session, so that a SIGINT to the process
group is what Ctrl-C in a terminal sends.
"""

import json
import os
import re
import signal
import subprocess
import time

from integration_helpers import BIN, ROOT, ansible_env, run_module, run_playbook

PLAYBOOK = """\
---
- name: Hold the deploy lock for a while
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Take the deploy lock
      divan.platform.deploy_lock:
        path: "{{ lock_path }}"
        owner:
          by: "{{ who }}"
          playbook: lock-test.yml
          action: deploy
          hosts: [localhost]
        timeout: "{{ lock_timeout | default(30) }}"
        poll: 1
      register: lock

    - name: Say what was taken and when, hold it, then say until when it was held (at least)
      ansible.builtin.shell: >-
        echo {{ lock | to_json | quote }} > {{ out }}.take.json; date +%s.%N > {{ out }}.taken;
        {{ ('i=0; while [ ! -e ' ~ (out ~ '.go') | quote ~ ' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done')
           if hold == 'until-go' else ('sleep ' ~ hold) }}; date +%s.%N > {{ out }}.held
      changed_when: false

    - name: Release the deploy lock
      divan.platform.deploy_lock:
        path: "{{ lock_path }}"
        state: absent
        token: "{{ lock.token }}"
      register: released
      failed_when: not released.released
"""


def flat(output):
    return ' '.join(output.split())


def playbook(tmp_path):
    path = tmp_path / 'lock-test.yml'
    if not path.exists():
        path.write_text(PLAYBOOK)
    return str(path)


def inventory(tmp_path):
    path = tmp_path / 'hosts.ini'
    if not path.exists():
        path.write_text('localhost ansible_connection=local\n')
    return str(path)


def args(tmp_path, who, hold, **extra):
    lock = tmp_path / 'divan' / 'deploy.lock'
    out = ['-i', inventory(tmp_path), playbook(tmp_path), '-e', 'lock_path=%s' % lock, '-e', 'who=%s' % who,
           '-e', 'hold=%s' % hold, '-e', 'out=%s' % (tmp_path / who)]
    for key, value in extra.items():
        out += ['-e', '%s=%s' % (key, value)]
    return out


def start(tmp_path, who, hold, **extra):
    """An ansible-playbook run in its own session (process group), output to <who>.log."""
    log = open(str(tmp_path / ('%s.log' % who)), 'w')
    proc = subprocess.Popen([os.path.join(BIN, 'ansible-playbook')] + args(tmp_path, who, hold, **extra),
                            env=ansible_env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    proc.log = str(tmp_path / ('%s.log' % who))
    return proc


def output(proc):
    with open(proc.log) as fh:
        return fh.read()


def owner(tmp_path):
    with open(str(tmp_path / 'divan' / 'deploy.lock' / 'owner.json')) as fh:
        return json.load(fh)


def result(tmp_path, who, what):
    with open(str(tmp_path / ('%s.%s.json' % (who, what)))) as fh:
        return json.load(fh)


def stamp(tmp_path, who, what):
    return float((tmp_path / ('%s.%s' % (who, what))).read_text())


def wait_until_held(tmp_path, proc, who, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (tmp_path / ('%s.taken' % who)).exists():
            return result(tmp_path, who, 'take')
        assert proc.poll() is None, output(proc)
        time.sleep(0.1)
    raise AssertionError('%s did not take the lock:\n%s' % (who, output(proc)))


def stop(proc, sig=signal.SIGKILL):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            pass
    proc.wait(30)


def wait_for_text(proc, text, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in flat(output(proc)):
            return
        assert proc.poll() is None, output(proc)
        time.sleep(0.1)
    raise AssertionError('no %r in the output:\n%s' % (text, output(proc)))


def test_second_run_waits_for_the_first(tmp_path):
    # the first holds the lock until <alice>.go exists: the second is seen waiting first
    first = start(tmp_path, 'alice', 'until-go')
    second = None
    try:
        taken = wait_until_held(tmp_path, first, 'alice')
        holder = taken['holder']
        # the pid in the record is the ansible-playbook process, and pid_start its start time
        assert holder['pid'] == first.pid
        with open('/proc/%d/cmdline' % first.pid, 'rb') as fh:
            assert b'ansible-playbook' in fh.read()
        with open('/proc/%d/stat' % first.pid) as fh:
            assert int(fh.read().rsplit(')', 1)[1].split()[19]) == holder['pid_start']
        assert taken['acquired'] and taken['changed'] and taken['stale_released'] is None
        assert holder['by'] == 'alice' and holder['token'] == taken['token'] and holder['hosts'] == ['localhost']

        second = start(tmp_path, 'bob', 0)
        wait_for_text(second, 'is held by a deploy run by alice from %s (process %d, playbook lock-test.yml) since %s; '
                              'waiting up to 30 s' % (holder['controller'], holder['pid'], holder['since']))
        time.sleep(1)
        assert not (tmp_path / 'bob.taken').exists()
        (tmp_path / 'alice.go').write_text('')
        assert first.wait(60) == 0, output(first)
        assert second.wait(60) == 0, output(second)
    finally:
        stop(first)
        if second is not None:
            stop(second)
    held_until = stamp(tmp_path, 'alice', 'held')
    bob = result(tmp_path, 'bob', 'take')
    assert bob['acquired'] and bob['stale_released'] is None and bob['holder']['by'] == 'bob'
    # the second took it only after the first stopped holding it
    assert stamp(tmp_path, 'bob', 'taken') > held_until
    assert bob['waited'] >= 1
    assert not (tmp_path / 'divan' / 'deploy.lock').exists()


def _killed_run_leaves_a_stale_lock(tmp_path, sig):
    first = start(tmp_path, 'alice', 60)
    try:
        holder = wait_until_held(tmp_path, first, 'alice')['holder']
    finally:
        stop(first, sig)
    assert owner(tmp_path)['token'] == holder['token']  # the interrupted run left its lock behind

    began = time.monotonic()
    rc, out = run_playbook(args(tmp_path, 'bob', 0), timeout=60)
    assert rc == 0, out
    second = result(tmp_path, 'bob', 'take')
    assert second['acquired'] and second['stale_released'] == holder
    assert second['waited'] == 0.0 and time.monotonic() - began < 45
    expected = ('released a stale deploy lock held by a deploy run by alice from %s (process %d, gone, '
                'playbook lock-test.yml) since %s' % (holder['controller'], holder['pid'], holder['since']))
    assert expected in flat(out), out
    assert second['msg'].startswith(expected)
    assert not (tmp_path / 'divan' / 'deploy.lock').exists()


def test_run_interrupted_with_sigint_does_not_block_the_next(tmp_path):
    _killed_run_leaves_a_stale_lock(tmp_path, signal.SIGINT)


def test_run_killed_with_sigkill_does_not_block_the_next(tmp_path):
    _killed_run_leaves_a_stale_lock(tmp_path, signal.SIGKILL)


def test_live_holder_and_short_timeout_fail_naming_it(tmp_path):
    first = start(tmp_path, 'alice', 60)
    try:
        holder = wait_until_held(tmp_path, first, 'alice')['holder']
        rc, out = run_playbook(args(tmp_path, 'bob', 0, lock_timeout=2), timeout=60)
        assert rc != 0, out
        text = flat(out)
        found = re.search(r'is held by a deploy run by alice from (\S+) \(process (\d+), playbook lock-test.yml\) '
                          r'since (\S+); gave up after waiting (\d+) s\. Nothing was changed\.', text)
        assert found, out
        assert found.groups()[:3] == (holder['controller'], str(holder['pid']), holder['since'])
        assert 2 <= int(found.group(4)) < 10
        assert ('Wait for it to finish, or if no run is active: ansible-playbook -i %s playbooks/unlock.yml'
                % inventory(tmp_path)) in text, out
        assert not (tmp_path / 'bob.take.json').exists()
        assert owner(tmp_path) == holder  # still the first run's
        assert first.poll() is None
    finally:
        stop(first)


def test_force_release_and_check_mode(tmp_path):
    lock = str(tmp_path / 'divan' / 'deploy.lock')
    # a dry run takes the lock too
    rc, host, out = run_module('deploy_lock', {'path': lock, 'owner': {'by': 'carol', 'action': 'converge'}},
                               check=True)
    assert rc == 0 and host['acquired'] and host['changed'], out
    held = owner(tmp_path)
    assert held['by'] == 'carol' and held['token'] == host['token']

    rc, host, out = run_module('deploy_lock', {'path': lock, 'state': 'query'})
    assert rc == 0 and not host['changed'] and host['holder'] == held, out

    rc, host, out = run_module('deploy_lock', {'path': lock, 'state': 'absent', 'token': 'not-' + held['token']})
    assert rc == 0 and not host['changed'] and 'left in place' in host['msg'] and owner(tmp_path) == held, out

    rc, host, out = run_module('deploy_lock', {'path': lock, 'state': 'absent', 'force': True})
    assert rc == 0 and host['changed'] and host['released'] and host['holder'] == held, out
    assert not os.path.exists(lock)
