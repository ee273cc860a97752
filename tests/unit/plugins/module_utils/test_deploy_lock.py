# -*- coding: utf-8 -*-
"""deploy_lock without ansible: stale decisions, take/break/release with tokens on tmp_path, messages."""

import json
import os
import stat
import time

import pytest

from ansible_collections.divan.platform.plugins.module_utils import deploy_lock as dl

NOW = 1796148000.0  # 2026-12-01T18:00:00Z


def record(**kw):
    owner = dict(by='alice', playbook='playbooks/deploy.yml', action='deploy', hosts=['app1', 'app2'])
    owner.update(kw.pop('owner', {}))
    args = dict(controller='ctl1', pid=1234, pid_start=5555, now=NOW)
    args.update(kw)
    return dl.make_record(owner, **args)


def starts(mapping):
    return mapping.get


# ---------------------------------------------------------------- records and /proc


def test_record_adds_who_and_when_over_the_playbook_fields():
    rec = record(owner={'controller': 'spoofed', 'token': 'mine'})
    assert rec['controller'] == 'ctl1' and rec['pid'] == 1234 and rec['pid_start'] == 5555
    assert rec['since'] == '2026-12-01T18:00:00Z' and rec['since_epoch'] == NOW
    assert rec['token'] != 'mine' and len(rec['token']) == 32 and int(rec['token'], 16) >= 0
    assert rec['by'] == 'alice' and rec['hosts'] == ['app1', 'app2']
    assert record()['token'] != record()['token']


def test_proc_start_time_reads_field_22(tmp_path):
    own = dl.proc_start_time(os.getpid())
    assert isinstance(own, int) and own > 0
    assert dl.proc_start_time(os.getpid()) == own
    fake = tmp_path / '42'
    fake.mkdir()
    # a comm with spaces and a ')' must not shift the fields
    fields = ['S'] + [str(n) for n in range(4, 22)] + ['987654', '0', '0']
    (fake / 'stat').write_text('42 (evil) name) ' + ' '.join(fields) + '\n')
    assert dl.proc_start_time(42, proc=str(tmp_path)) == 987654
    assert dl.proc_start_time(43, proc=str(tmp_path)) is None
    assert dl.proc_start_time('nope') is None


def test_parse_iso_round_trip():
    assert dl.parse_iso(dl.utc_iso(NOW)) == NOW
    assert dl.parse_iso('yesterday') is None and dl.parse_iso(None) is None


# ---------------------------------------------------------------- stale decision


def test_live_holder_on_this_controller_is_not_stale():
    assert dl.stale_reason(record(), NOW + 10, 3600, 'ctl1', starts({1234: 5555})) is None


def test_older_than_ttl_is_stale_whoever_holds_it():
    assert dl.stale_reason(record(), NOW + 3601, 3600, 'ctl1', starts({1234: 5555})) == 'ttl'
    assert dl.stale_reason(record(), NOW + 3601, 3600, 'ctl2', starts({})) == 'ttl'
    assert dl.stale_reason(record(), NOW + 3599, 3600, 'ctl2', starts({})) is None


def test_gone_process_is_stale():
    assert dl.stale_reason(record(), NOW + 10, 3600, 'ctl1', starts({})) == 'gone'


def test_reused_pid_is_stale():
    assert dl.stale_reason(record(), NOW + 10, 3600, 'ctl1', starts({1234: 7777})) == 'reused'


def test_other_controller_only_by_ttl():
    # pid 1234 is not running here, but the holder is on ctl1 and this is ctl2
    assert dl.stale_reason(record(), NOW + 10, 3600, 'ctl2', starts({})) is None


def test_legacy_record_without_pid_goes_stale_by_its_since():
    legacy = {'action': 'deploy', 'by': 'bob', 'controller': 'ctl1', 'since': '2026-12-01T18:00:00Z'}
    assert dl.stale_reason(legacy, NOW + 60, 3600, 'ctl1', starts({})) is None
    assert dl.stale_reason(legacy, NOW + 3700, 3600, 'ctl1', starts({})) == 'ttl'


def test_same_run():
    rec = record()
    assert dl.same_run(rec, 'ctl1', 1234, 5555)
    assert not dl.same_run(rec, 'ctl1', 1234, 5556)
    assert not dl.same_run(rec, 'ctl2', 1234, 5555)
    assert not dl.same_run(None, 'ctl1', 1234, 5555)


# ---------------------------------------------------------------- take, break, release


def test_take_creates_dir_and_owner_atomically(tmp_path):
    path = str(tmp_path / 'opt' / 'divan' / 'deploy.lock')
    rec = record()
    res = dl.take(path, rec)
    assert res['acquired'] and res['changed'] and res['token'] == rec['token'] and res['holder'] == rec
    assert res['stale_released'] is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o750
    owner = os.path.join(path, 'owner.json')
    assert stat.S_IMODE(os.stat(owner).st_mode) == 0o644
    assert json.loads(open(owner).read()) == rec
    assert os.listdir(path) == ['owner.json']  # no temporary file left


def test_second_take_sees_the_holder_and_changes_nothing(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    first = record()
    dl.take(path, first)
    res = dl.take(path, record(pid=99))
    assert not res['acquired'] and not res['changed'] and res['holder'] == first and res['token'] is None
    assert 'held by a deploy run by alice from ctl1 (process 1234, playbook playbooks/deploy.yml) since ' \
           '2026-12-01T18:00:00Z' in res['msg']
    assert dl.query(path)['holder'] == first


def test_break_only_with_the_stale_holders_token(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    stale = record()
    dl.take(path, stale)
    res = dl.take(path, record(pid=99), break_token='not-the-token')
    assert not res['acquired'] and dl.query(path)['holder'] == stale
    new = record(pid=99)
    res = dl.take(path, new, break_token=stale['token'])
    assert res['acquired'] and res['changed'] and res['stale_released'] == stale and res['holder'] == new
    assert dl.query(path)['holder'] == new
    assert sorted(os.listdir(str(tmp_path))) == ['deploy.lock']  # the removed lock is gone


def test_release_with_token_only(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    rec = record()
    dl.take(path, rec)
    res = dl.release(path, token='someone-else')
    assert not res['changed'] and not res['released'] and res['holder'] == rec
    assert 'held by a deploy run by alice from ctl1' in res['msg'] and 'left in place' in res['msg']
    assert os.path.isdir(path)
    res = dl.release(path)
    assert not res['changed'] and os.path.isdir(path)
    res = dl.release(path, token=rec['token'])
    assert res['changed'] and res['released'] and res['holder'] == rec and not os.path.exists(path)
    res = dl.release(path, token=rec['token'])
    assert not res['changed'] and res['holder'] is None and 'not held' in res['msg']


def test_force_release_returns_the_removed_holder(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    rec = record()
    dl.take(path, rec)
    res = dl.release(path, force=True)
    assert res['changed'] and res['released'] and res['holder'] == rec and not os.path.exists(path)


def test_query_never_changes(tmp_path):
    path = str(tmp_path / 'deploy.lock')
    res = dl.query(path)
    assert res['holder'] is None and res['state'] == 'free' and not res['changed']
    assert not os.path.exists(path)


@pytest.mark.parametrize('content', [None, '', '{"by": "al', '[1, 2]'])
def test_corrupt_owner_is_live_for_60_s_then_stale(tmp_path, content):
    path = tmp_path / 'deploy.lock'
    path.mkdir()
    if content is not None:
        (path / 'owner.json').write_text(content)
    state, holder = dl.read_lock(str(path))
    assert state == 'corrupt' and holder['corrupt'] and holder['age'] < 5
    res = dl.take(str(path), record(pid=99))
    assert not res['acquired'] and 'owner.json is missing or unreadable' in res['msg']

    old = time.time() - 120
    if content is not None:
        os.utime(str(path / 'owner.json'), (old, old))
    os.utime(str(path), (old, old))
    new = record(pid=99)
    res = dl.take(str(path), new)
    assert res['acquired'] and res['stale_released']['corrupt'] and res['stale_released']['age'] >= 119
    assert dl.query(str(path))['holder'] == new
    assert 'left 1' in dl.stale_message(res['stale_released'], None)


def test_legacy_record_gets_a_stable_token_and_can_be_broken(tmp_path):
    path = tmp_path / 'deploy.lock'
    path.mkdir()
    (path / 'owner.json').write_text(json.dumps({'action': 'deploy', 'by': 'bob', 'controller': 'ctl1',
                                                 'since': '2026-12-01T17:00:00Z'}) + '\n')
    state, holder = dl.read_lock(str(path))
    assert state == 'held' and holder['token'].startswith('legacy-')
    assert dl.read_lock(str(path))[1]['token'] == holder['token']
    res = dl.take(str(path), record(), break_token=holder['token'])
    assert res['acquired'] and res['stale_released']['by'] == 'bob'


def test_a_file_in_place_of_the_lock_is_named(tmp_path):
    path = tmp_path / 'deploy.lock'
    path.write_text('x')
    with pytest.raises(dl.LockError, match='exists and is not a directory'):
        dl.take(str(path), record())


def test_unwritable_parent_is_named(tmp_path):
    if os.geteuid() == 0:
        pytest.skip('root writes anywhere')
    parent = tmp_path / 'ro'
    parent.mkdir()
    parent.chmod(0o500)
    try:
        with pytest.raises(dl.LockError, match='cannot create the lock'):
            dl.take(str(parent / 'deploy.lock'), record())
    finally:
        parent.chmod(0o700)


# ---------------------------------------------------------------- messages


def test_stale_messages_say_why():
    rec = record(pid=1234)
    assert dl.stale_message(rec, 'gone') == (
        'released a stale deploy lock held by a deploy run by alice from ctl1 (process 1234, gone, '
        'playbook playbooks/deploy.yml) since 2026-12-01T18:00:00Z')
    assert 'process 1234, gone: the pid is another process now' in dl.stale_message(rec, 'reused')
    assert 'older than the ttl' in dl.stale_message(rec, 'ttl')
    bare = {'controller': 'ctl1', 'pid': 7, 'since': '2026-12-01T18:00:00Z'}
    assert dl.stale_message(bare, 'gone') == ('released a stale deploy lock held by a deploy run by unknown from '
                                              'ctl1 (process 7, gone) since 2026-12-01T18:00:00Z')


def test_busy_message_names_holder_wait_and_what_to_do():
    rec = record(owner={'action': 'rollback', 'by': 'bob'})
    msg = dl.busy_message('/opt/divan/deploy.lock', 'app1', rec, 600.2, 3600, 'ctl1', 'inventories/production')
    assert msg.startswith('deploy lock /opt/divan/deploy.lock on app1 is held by a rollback run by bob from ctl1 '
                          '(process 1234, playbook playbooks/deploy.yml) since 2026-12-01T18:00:00Z; '
                          'gave up after waiting 600 s. Nothing was changed.')
    assert msg.endswith('wait for it to finish, or if no run is active: '
                        'ansible-playbook -i inventories/production playbooks/unlock.yml'.replace('wait', 'Wait'))
    assert 'another controller' not in msg


def test_other_controller_says_it_goes_stale_by_ttl_only():
    rec = record()
    msg = dl.busy_message('/l', 'app1', rec, 5, 3600, 'ctl2', None)
    assert ('it runs on another controller (ctl1), whose processes this one (ctl2) cannot see, so it counts as '
            'stale only after its ttl of 3600 s (at 2026-12-01T19:00:00Z)') in msg
    assert '-i <inventory> playbooks/unlock.yml' in msg
    assert 'another controller (ctl1)' in dl.waiting_message('/l', 'app1', rec, 600, 3600, 'ctl2')
