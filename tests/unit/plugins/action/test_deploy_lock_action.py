# -*- coding: utf-8 -*-
"""The deploy_lock action's polling loop with a fake module: break a stale holder, wait, give up, re-enter."""

import os
import socket
from unittest import mock

import pytest

from ansible_collections.divan.platform.plugins.action import deploy_lock as action
from ansible_collections.divan.platform.plugins.module_utils import deploy_lock as dl

HOST = socket.gethostname()
ARGS = dict(path='/opt/divan/deploy.lock', state='present', owner={'by': 'alice', 'action': 'deploy'}, ttl=3600,
            timeout=10, poll=2, token=None, force=False, break_token=None)
GONE_PID = 2 ** 22 + 12345  # above the default pid_max: never running


class Fake(object):
    """The module's answers in order; records the module args of each call."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, module_args, task_vars):
        self.calls.append(module_args)
        answer = self.answers.pop(0)
        return dict(answer(module_args) if callable(answer) else answer)


def busy(holder):
    return dict(acquired=False, changed=False, holder=holder, stale_released=None, token=None, msg='held')


def taken(stale=None):
    return lambda args: dict(acquired=True, changed=True, holder=args['owner'], stale_released=stale,
                             token=args['owner']['token'], msg='took')


def holder(**kw):
    rec = dl.make_record({'by': 'bob', 'action': 'rollback'}, 'ctl-other', 4242, 1)
    rec.update(kw)
    return rec


@pytest.fixture
def plugin(monkeypatch):
    sleeps = []
    monkeypatch.setattr(action.time, 'sleep', sleeps.append)
    monkeypatch.setattr(action, '_inventory_hint', lambda: 'inventories/production')
    obj = action.ActionModule.__new__(action.ActionModule)
    obj._task = mock.Mock(delegate_to='app1')
    obj._display = mock.Mock()
    obj.sleeps = sleeps
    return obj


def run(plugin, fake, **args):
    plugin._module = fake
    full = dict(ARGS)
    full.update(args)
    return plugin._take(full, {})


def test_free_lock_is_taken_at_once_with_the_controller_fields(plugin):
    fake = Fake(taken())
    res = run(plugin, fake)
    assert res['acquired'] and res['waited'] == 0.0 and plugin.sleeps == []
    owner = fake.calls[0]['owner']
    assert owner['by'] == 'alice' and owner['controller'] == HOST and owner['pid'] == os.getppid()
    assert owner['pid_start'] == dl.proc_start_time(os.getppid()) and len(owner['token']) == 32
    assert 'break_token' not in fake.calls[0]
    assert res['msg'] == 'took the deploy lock /opt/divan/deploy.lock on app1'


def test_gone_holder_of_this_controller_is_broken_at_once(plugin):
    stale = holder(controller=HOST, pid=GONE_PID)
    fake = Fake(busy(stale), taken(stale))
    res = run(plugin, fake)
    assert fake.calls[1]['break_token'] == stale['token'] and plugin.sleeps == []
    assert res['acquired'] and res['stale_released'] == stale and res['waited'] == 0.0
    assert res['msg'] == ('released a stale deploy lock held by a rollback run by bob from %s (process %d, gone) '
                          'since %s; took the deploy lock /opt/divan/deploy.lock on app1'
                          % (HOST, GONE_PID, stale['since']))
    plugin._display.warning.assert_called_once_with(res['msg'])


def test_reused_pid_is_broken(plugin):
    stale = holder(controller=HOST, pid=os.getppid(), pid_start=1)  # alive, but started at another time
    res = run(plugin, Fake(busy(stale), taken(stale)))
    assert res['acquired'] and 'gone: the pid is another process now' in res['msg']


def test_other_controller_past_ttl_is_broken(plugin):
    stale = holder(since_epoch=1.0, since='1970-01-01T00:00:01Z')
    res = run(plugin, Fake(busy(stale), taken(stale)))
    assert res['acquired'] and 'older than the ttl' in res['msg']


def test_live_holder_is_waited_for(plugin):
    live = holder()
    fake = Fake(busy(live), busy(live), taken())
    res = run(plugin, fake)
    assert res['acquired'] and len(fake.calls) == 3 and len(plugin.sleeps) == 2
    assert all(0 < s <= 2 for s in plugin.sleeps)
    assert all('break_token' not in c for c in fake.calls)
    assert plugin._display.display.call_count == 1  # said once per holder
    assert 'another controller (ctl-other)' in plugin._display.display.call_args[0][0]


def test_live_holder_and_no_time_left_fails_naming_it(plugin):
    live = holder()
    res = run(plugin, Fake(busy(live)), timeout=0)
    assert res['failed'] and not res['acquired'] and not res['changed'] and res['holder'] == live
    assert res['msg'].startswith('deploy lock /opt/divan/deploy.lock on app1 is held by a rollback run by bob from '
                                 'ctl-other (process 4242) since ')
    assert 'gave up after waiting 0 s' in res['msg'] and 'only after its ttl of 3600 s' in res['msg']
    assert res['msg'].endswith('ansible-playbook -i inventories/production playbooks/unlock.yml')
    assert plugin.sleeps == []


def test_the_same_run_holds_it_already(plugin):
    mine = holder(controller=HOST, pid=os.getppid(), pid_start=dl.proc_start_time(os.getppid()))
    res = run(plugin, Fake(busy(mine)))
    assert res['acquired'] and not res['changed'] and res['reentrant'] and res['token'] == mine['token']


def test_corrupt_lock_is_waited_for_the_module_breaks_it(plugin):
    fake = Fake(busy({'corrupt': True, 'age': 3.0}), taken({'corrupt': True, 'age': 61.0}))
    res = run(plugin, fake)
    assert res['acquired'] and 'missing or unreadable owner.json (left 61 s ago' in res['msg']
    assert 'break_token' not in fake.calls[1]


def test_module_failure_is_returned(plugin):
    res = run(plugin, Fake(dict(failed=True, msg='cannot create the lock /x: Permission denied')))
    assert res['failed'] and res['msg'] == 'cannot create the lock /x: Permission denied'


@pytest.mark.parametrize('name,value', [('poll', 0), ('timeout', -1), ('ttl', -5)])
def test_bad_numbers_are_refused(plugin, name, value):
    res = run(plugin, Fake(), **{name: value})
    assert res['failed'] and res['msg'].startswith(name + ' must be')
