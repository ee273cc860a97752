# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet-wide deploy lock behind divan.platform.deploy_lock (standard library only).

The lock is a directory made with ``os.mkdir`` (atomic: it fails when the
directory exists) holding ``owner.json``, the holder record. Two halves:

* on the lock host (the module): ``take``, ``release`` and ``query``. Each
  runs under an ``flock`` of the lock's parent directory, so that taking
  (mkdir + owner.json), breaking a stale lock (only while owner.json still
  carries the stale holder's token) and releasing never interleave between
  two runs;
* on the controller (the action plugin): ``make_record`` (who takes it),
  ``stale_reason`` (is the holder gone: older than its ttl, or a process of
  this controller that is no longer running) and the messages.
"""

import calendar
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid

OWNER_FILE = 'owner.json'
DIR_MODE = 0o750
FILE_MODE = 0o644
# owner.json missing, empty or unreadable: a run in the middle of taking the
# lock for this long, then a run killed between mkdir and the write
CORRUPT_GRACE = 60
DEFAULT_TTL = 3600
DEFAULT_TIMEOUT = 600
DEFAULT_POLL = 5
UNLOCK_HINT = 'ansible-playbook -i %s playbooks/unlock.yml'

# The options of divan.platform.deploy_lock: the module validates them on
# the lock host, the action plugin on the controller.
ARGUMENT_SPEC = dict(
    path=dict(type='path', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent', 'query']),
    owner=dict(type='dict', default={}),
    ttl=dict(type='int', default=DEFAULT_TTL),
    timeout=dict(type='int', default=DEFAULT_TIMEOUT),
    poll=dict(type='int', default=DEFAULT_POLL),
    token=dict(type='str', no_log=False),
    force=dict(type='bool', default=False),
    break_token=dict(type='str', no_log=False),
)


class LockError(Exception):
    """The lock cannot be read or written (permissions, a file where the directory should be)."""


# ---------------------------------------------------------------- time and processes


def utc_iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def parse_iso(text):
    """Epoch seconds of 'YYYY-MM-DDTHH:MM:SSZ', or None."""
    try:
        return float(calendar.timegm(time.strptime(str(text), '%Y-%m-%dT%H:%M:%SZ')))
    except (TypeError, ValueError):
        return None


def proc_start_time(pid, proc='/proc'):
    """Start time of process ``pid`` (field 22 of /proc/<pid>/stat, clock ticks since boot), or None when gone."""
    try:
        with open(os.path.join(proc, str(int(pid)), 'stat'), 'rb') as fh:
            data = fh.read().decode('ascii', 'replace')
    except (IOError, OSError, TypeError, ValueError):
        return None
    # comm (field 2) is in parentheses and may hold spaces or ')': split after the last ')'
    fields = data[data.rfind(')') + 2:].split()
    try:
        return int(fields[22 - 3])
    except (IndexError, ValueError):
        return None


def make_record(owner, controller, pid, pid_start, now=None, token=None):
    """The holder record: the playbook's free-form ``owner`` fields plus who and when (these win)."""
    now = time.time() if now is None else now
    record = dict(owner or {})
    record.update(controller=controller, pid=pid, pid_start=pid_start, since=utc_iso(now),
                  since_epoch=round(float(now), 3), token=token or uuid.uuid4().hex)
    return record


def holder_epoch(holder):
    if not isinstance(holder, dict):
        return None
    epoch = holder.get('since_epoch')
    if isinstance(epoch, (int, float)) and not isinstance(epoch, bool):
        return float(epoch)
    return parse_iso(holder.get('since'))


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def stale_reason(holder, now, ttl, controller, start_time=proc_start_time):
    """Why the holder is gone, or None while it may still be running.

    ``'ttl'``: older than ``ttl`` seconds, whoever holds it; ``'gone'``: a
    process of this controller that is not running; ``'reused'``: its pid is
    another process now (not the start time recorded). A holder on another
    controller can only go stale by ttl.
    """
    epoch = holder_epoch(holder)
    if epoch is not None and ttl is not None and now - epoch > ttl:
        return 'ttl'
    if holder.get('controller') != controller:
        return None
    pid = _int(holder.get('pid'))
    if pid is None or pid <= 0:
        return None  # a record without a pid (the former lock tasks): ttl only
    started = start_time(pid)
    if started is None:
        return 'gone'
    recorded = _int(holder.get('pid_start'))
    if recorded is not None and started != recorded:
        return 'reused'
    return None


def same_run(holder, controller, pid, pid_start):
    """The lock is held by this very ansible-playbook process (a play that takes it twice)."""
    return (isinstance(holder, dict) and holder.get('controller') == controller
            and _int(holder.get('pid')) == pid and _int(holder.get('pid_start')) == pid_start)


# ---------------------------------------------------------------- messages


def _v(holder, key, default='unknown'):
    value = holder.get(key) if isinstance(holder, dict) else None
    return default if value in (None, '') else value


def describe_holder(holder, reason=None):
    """'a deploy run by alice from ctl1 (process 1234, gone) since 2026-12-01T18:00:00Z'."""
    if not isinstance(holder, dict) or holder.get('corrupt'):
        return 'a run whose owner.json is missing or unreadable (killed while taking the lock)'
    proc = 'process %s' % _v(holder, 'pid')
    if reason == 'gone':
        proc += ', gone'
    elif reason == 'reused':
        proc += ', gone: the pid is another process now'
    elif reason == 'ttl':
        proc += ', older than the ttl'
    text = 'a %s run by %s from %s (%s' % (_v(holder, 'action', 'deploy'), _v(holder, 'by'), _v(holder, 'controller'),
                                           proc)
    if holder.get('playbook'):
        text += ', playbook %s' % holder['playbook']
    return text + ') since %s' % _v(holder, 'since')


def stale_message(holder, reason):
    if not isinstance(holder, dict) or holder.get('corrupt'):
        age = holder.get('age') if isinstance(holder, dict) else None
        return ('released a stale deploy lock with a missing or unreadable owner.json (left %s s ago by a run killed '
                'while taking it)' % (int(age) if isinstance(age, (int, float)) else 'over %d' % CORRUPT_GRACE))
    return 'released a stale deploy lock held by %s' % describe_holder(holder, reason)


def other_controller_note(holder, ttl, controller):
    """For a holder on another controller: it can only go stale by ttl (when)."""
    if not isinstance(holder, dict) or holder.get('corrupt') or holder.get('controller') == controller:
        return ''
    epoch = holder_epoch(holder)
    when = (' (at %s)' % utc_iso(epoch + ttl)) if epoch is not None else ''
    return ('; it runs on another controller (%s), whose processes this one (%s) cannot see, so it counts as stale '
            'only after its ttl of %d s%s' % (_v(holder, 'controller'), controller, ttl, when))


def busy_message(path, host, holder, waited, ttl, controller, inventory):
    return ('deploy lock %s on %s is held by %s; gave up after waiting %d s%s. Nothing was changed. Wait for it to '
            'finish, or if no run is active: %s'
            % (path, host, describe_holder(holder), int(waited),
               other_controller_note(holder, ttl, controller), UNLOCK_HINT % (inventory or '<inventory>')))


def waiting_message(path, host, holder, timeout, ttl, controller):
    return ('deploy lock %s on %s is held by %s; waiting up to %d s for it%s'
            % (path, host, describe_holder(holder), timeout, other_controller_note(holder, ttl, controller)))


# ---------------------------------------------------------------- the lock itself (lock host)


class _ParentLock(object):
    """flock of the lock's parent directory for the few milliseconds of a take, break or release."""

    def __init__(self, path):
        self.parent = os.path.dirname(os.path.abspath(path))
        self.fd = None

    def __enter__(self):
        if not os.path.isdir(self.parent):
            try:
                os.makedirs(self.parent, DIR_MODE)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise LockError('cannot create %s: %s' % (self.parent, exc.strerror))
        try:
            self.fd = os.open(self.parent, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            if self.fd is not None:
                os.close(self.fd)
            raise LockError('cannot lock %s: %s' % (self.parent, exc.strerror))
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def legacy_token(raw):
    """A token for a record written without one (the former lock tasks): derived from its content."""
    return 'legacy-' + hashlib.sha256(raw).hexdigest()[:32]


def read_lock(path, now=None):
    """(state, holder): ('free', None), ('held', record) or ('corrupt', {'corrupt': True, 'age': s}).

    ``age`` of a corrupt lock: seconds since the directory or owner.json last
    changed (this host's clock, as the mtimes are).
    """
    now = time.time() if now is None else now
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return 'free', None
        raise LockError('cannot read %s: %s' % (path, exc.strerror))
    if not os.path.isdir(path):
        raise LockError('%s exists and is not a directory: remove it, or give another path' % path)
    owner = os.path.join(path, OWNER_FILE)
    mtime = st.st_mtime
    raw = b''
    try:
        mtime = max(mtime, os.stat(owner).st_mtime)
        with open(owner, 'rb') as fh:
            raw = fh.read()
    except (IOError, OSError) as exc:
        if exc.errno not in (errno.ENOENT, errno.EISDIR):
            raise LockError('cannot read %s: %s' % (owner, exc.strerror))
    record = None
    if raw.strip():
        try:
            record = json.loads(raw.decode('utf-8'))
        except ValueError:
            record = None
    if not isinstance(record, dict):
        return 'corrupt', {'corrupt': True, 'age': round(max(0.0, now - mtime), 1)}
    if not record.get('token'):
        record['token'] = legacy_token(raw)
    return 'held', record


def _write_owner(path, record):
    fd, tmp = tempfile.mkstemp(prefix='.owner-', suffix='.tmp', dir=path)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, 'w') as fh:
            json.dump(record, fh, sort_keys=True)
            fh.write('\n')
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, os.path.join(path, OWNER_FILE))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _remove(path):
    """Take the lock directory away at once (rename aside), then delete it."""
    aside = '%s.removed-%s' % (path, uuid.uuid4().hex[:12])
    os.rename(path, aside)
    shutil.rmtree(aside, ignore_errors=True)


def _mkdir_and_write(path, record):
    try:
        os.mkdir(path, DIR_MODE)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise LockError('cannot create the lock %s: %s' % (path, exc.strerror))
    try:
        os.chmod(path, DIR_MODE)  # whatever the umask
        _write_owner(path, record)
    except (IOError, OSError) as exc:
        shutil.rmtree(path, ignore_errors=True)  # never leave a lock that nobody holds
        raise LockError('cannot write %s: %s' % (os.path.join(path, OWNER_FILE), exc.strerror))
    return True


def take(path, record, break_token=None, now=None, corrupt_grace=CORRUPT_GRACE):
    """Take the lock for ``record``.

    A lock whose owner.json carries ``break_token`` (a holder the controller
    found stale) is removed first; a lock with a missing or unreadable
    owner.json older than ``corrupt_grace`` seconds too. Returns a dict:
    acquired, changed, holder (``record`` when taken, else the holder found),
    stale_released (the removed holder or None), token, msg.
    """
    now = time.time() if now is None else now
    result = dict(acquired=False, changed=False, holder=None, stale_released=None, token=None, msg='')
    with _ParentLock(path):
        state, holder = read_lock(path, now)
        if state == 'held' and break_token and holder.get('token') == break_token:
            _remove(path)
            result['stale_released'] = holder
        elif state == 'corrupt' and holder['age'] > corrupt_grace:
            _remove(path)
            result['stale_released'] = holder
        elif state != 'free':
            result.update(holder=holder, msg='deploy lock %s is held by %s' % (path, describe_holder(holder)))
            return result
        try:
            acquired = _mkdir_and_write(path, record)
        except OSError as exc:  # pragma: no cover - _mkdir_and_write wraps what it can
            raise LockError('cannot take the lock %s: %s' % (path, exc))
    if not acquired:  # pragma: no cover - cannot happen under the parent's flock unless a run does not use it
        state, holder = read_lock(path, now)
        result.update(holder=holder, msg='deploy lock %s is held by %s' % (path, describe_holder(holder)))
        return result
    result.update(acquired=True, changed=True, holder=record, token=record.get('token'),
                  msg='took the deploy lock %s' % path)
    return result


def release(path, token=None, force=False, now=None):
    """Release the lock: only when it carries ``token``, or whatever holds it with ``force``.

    Returns a dict: acquired (False), changed, holder (the one found, or
    removed), released (bool), msg.
    """
    result = dict(acquired=False, changed=False, holder=None, stale_released=None, token=token, released=False)
    with _ParentLock(path):
        state, holder = read_lock(path, now)
        result['holder'] = holder
        if state == 'free':
            result['msg'] = 'deploy lock %s is not held: nothing to release' % path
            return result
        if not force and (not token or holder.get('token') != token):
            result['msg'] = ('deploy lock %s is held by %s, not by this token: left in place'
                             % (path, describe_holder(holder)))
            return result
        _remove(path)
    result.update(changed=True, released=True,
                  msg='released the deploy lock %s held by %s' % (path, describe_holder(holder)))
    return result


def query(path, now=None):
    state, holder = read_lock(path, now)
    msg = ('deploy lock %s is not held' % path) if state == 'free' else \
        ('deploy lock %s is held by %s' % (path, describe_holder(holder)))
    return dict(acquired=False, changed=False, holder=holder, stale_released=None, token=None, state=state, msg=msg)
