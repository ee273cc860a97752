# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side action behind divan.platform.deploy_lock (see plugins/modules/deploy_lock.py).

Runs on the controller because the holder record names this controller's
ansible-playbook process (the worker's parent, ``os.getppid()``) and because
only this controller can tell whether one of its own processes is still
running. It calls the module of the same name on the lock host once per
attempt: take; while a live run holds the lock, poll; a stale holder (older
than ttl, or a process of this controller that is gone or whose pid is
another process now) is broken with ``break_token`` at once.
"""

import errno
import os
import socket
import time
import uuid

from ansible import context
from ansible.plugins.action import ActionBase

from ansible_collections.divan.platform.plugins.module_utils import deploy_lock as dl


MODULE = 'divan.platform.deploy_lock'

ARGUMENT_SPEC = dl.ARGUMENT_SPEC


def _inventory_hint():
    sources = [s for s in (context.CLIARGS.get('inventory') or ()) if s]
    return ' -i '.join(sources) if sources else '<inventory>'


def _start_time_fn(proc_ok, holder):
    """The start time of a pid: from /proc; without /proc (not Linux) only alive or gone (kill 0)."""
    if proc_ok:
        return dl.proc_start_time

    def alive(pid):
        try:
            os.kill(pid, 0)
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                return None
        return holder.get('pid_start')
    return alive


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        del validation
        try:
            if args['state'] != 'present':
                pass_args = dict(path=args['path'], state=args['state'])
                if args['state'] == 'absent':
                    pass_args.update(token=args['token'], force=args['force'])
                res = self._module(pass_args, task_vars)
                res.setdefault('waited', 0.0)
                result.update(res)
                return result
            result.update(self._take(args, task_vars))
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _module(self, module_args, task_vars):
        return self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)

    def _fail(self, res, msg, **kw):
        res = dict(res)
        res.update(failed=True, msg=msg, **kw)
        return res

    def _take(self, args, task_vars):
        for name, least in (('ttl', 0), ('timeout', 0), ('poll', 1)):
            if args[name] < least:
                return self._fail({}, '%s must be %d or more, not %d' % (name, least, args[name]))
        path, ttl, timeout, poll = args['path'], args['ttl'], args['timeout'], args['poll']
        host = self._task.delegate_to or task_vars.get('inventory_hostname') or 'the lock host'
        controller = socket.gethostname()
        pid = os.getppid()  # the worker is a fork of the ansible-playbook process
        pid_start = dl.proc_start_time(pid)
        proc_ok = pid_start is not None
        token = uuid.uuid4().hex
        owner = dict(args['owner'] or {})

        busy_since = None  # when a live holder was first seen: waited counts from there
        break_token = None
        reasons = {}  # token of a holder found stale -> why
        announced = None
        while True:
            record = dl.make_record(owner, controller, pid, pid_start, token=token)
            module_args = dict(path=path, state='present', owner=record, ttl=ttl)
            if break_token:
                module_args['break_token'] = break_token
            res = self._module(module_args, task_vars)
            waited = 0.0 if busy_since is None else round(time.monotonic() - busy_since, 1)
            res['waited'] = waited
            if res.get('failed'):
                return res
            if res.get('acquired'):
                stale = res.get('stale_released')
                taken = 'took the deploy lock %s on %s' % (path, host)
                if stale is not None:
                    res['msg'] = '%s; %s' % (dl.stale_message(stale, reasons.get(stale.get('token'))), taken)
                    self._display.warning(res['msg'])
                else:
                    res['msg'] = taken + (' after waiting %d s' % int(waited) if waited >= 1 else '')
                return res
            holder = res.get('holder')
            if dl.same_run(holder, controller, pid, pid_start):
                res.update(acquired=True, changed=False, token=holder.get('token'), reentrant=True,
                           msg='the deploy lock %s on %s is already held by this run' % (path, host))
                return res
            reason = None
            if isinstance(holder, dict) and not holder.get('corrupt'):
                reason = dl.stale_reason(holder, time.time(), ttl, controller,
                                         start_time=_start_time_fn(proc_ok, holder))
            if reason and holder.get('token') != break_token:
                # break it now; if it changed meanwhile, the next answer says who holds it
                break_token = holder.get('token')
                reasons[break_token] = reason
                continue
            break_token = None
            if busy_since is None:
                busy_since = time.monotonic()
            if waited >= timeout:
                return self._fail(res, dl.busy_message(path, host, holder, waited, ttl, controller,
                                                       _inventory_hint()), acquired=False, changed=False)
            key = (holder or {}).get('token')
            if announced != key:
                self._display.display(dl.waiting_message(path, host, holder, timeout, ttl, controller))
                announced = key
            time.sleep(max(0.0, min(poll, timeout - (time.monotonic() - busy_since))))
