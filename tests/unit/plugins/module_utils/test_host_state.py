# -*- coding: utf-8 -*-
"""Reading dpkg-query and systemctl show, and the strict 'differs' answers of host_state."""

import pytest

from ansible_collections.divan.platform.plugins.module_utils import host_state as hs

DPKG = ('caddy\tii \t2.6.2-6+b13\n'
        'redis-server\trc \t5:7.0.15-1\n'          # removed, config files left: not installed
        'python3-docker\tiU \t7.1.0-1\n'           # unpacked, not configured
        'libc6:amd64\tii \t2.36-9\n')

SHOW = ('Id=docker.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n'
        'Id=nosuch.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n\n'
        'Id=caddy.service\nLoadState=loaded\nActiveState=failed\nUnitFileState=disabled\n')


def test_parse_dpkg_query_keeps_only_installed_packages():
    assert hs.parse_dpkg_query(DPKG) == {'caddy': '2.6.2-6+b13', 'libc6': '2.36-9'}
    assert hs.parse_dpkg_query('') == {}
    assert hs.parse_dpkg_query('garbage line\n') == {}


def test_commands_end_options_before_names():
    assert hs.dpkg_query_command(['a'])[-2:] == ['--', 'a']
    assert hs.systemctl_show_command(['docker', 'caddy'])[-3:] == ['--', 'docker', 'caddy']


def test_parse_systemctl_show_maps_blocks_in_order():
    props = hs.parse_systemctl_show(SHOW, ['docker', 'nosuch', 'caddy'])
    assert props['docker']['ActiveState'] == 'active'
    assert props['nosuch']['LoadState'] == 'not-found'
    assert props['caddy']['UnitFileState'] == 'disabled'
    with pytest.raises(ValueError, match=r'returned 3 unit\(s\) for 2 asked'):
        hs.parse_systemctl_show(SHOW, ['docker', 'nosuch'])


@pytest.mark.parametrize('props,enabled,state,expected', [
    ({'LoadState': 'loaded', 'ActiveState': 'active', 'UnitFileState': 'enabled'}, True, 'started', []),
    ({'LoadState': 'loaded', 'ActiveState': 'active', 'UnitFileState': 'enabled'}, None, None, []),
    ({'LoadState': 'loaded', 'ActiveState': 'inactive', 'UnitFileState': 'enabled'}, True, 'started',
     ['not active (inactive)']),
    ({'LoadState': 'loaded', 'ActiveState': 'activating', 'UnitFileState': 'enabled'}, True, 'started',
     ['not active (activating)']),
    ({'LoadState': 'loaded', 'ActiveState': 'active', 'UnitFileState': 'enabled-runtime'}, True, 'started',
     ['not enabled (enabled-runtime)']),
    ({'LoadState': 'loaded', 'ActiveState': 'active', 'UnitFileState': 'static'}, True, None,
     ['not enabled (static)']),
    ({'LoadState': 'loaded', 'ActiveState': 'inactive', 'UnitFileState': 'disabled'}, False, 'stopped', []),
    ({'LoadState': 'loaded', 'ActiveState': 'failed', 'UnitFileState': 'enabled'}, False, 'stopped',
     ['not disabled (enabled)', 'not stopped (failed)']),
    ({'LoadState': 'loaded', 'ActiveState': 'active', 'UnitFileState': 'enabled'}, True, 'restarted',
     ['state restarted always acts']),
    ({'LoadState': 'loaded', 'ActiveState': 'active', 'UnitFileState': 'enabled'}, None, 'reloaded',
     ['state reloaded always acts']),
    ({'LoadState': 'not-found', 'ActiveState': 'inactive', 'UnitFileState': ''}, True, 'started',
     ['not loaded (not-found)']),
    ({}, None, None, ['not loaded (unknown)']),
])
def test_service_differences(props, enabled, state, expected):
    assert hs.service_differences(props, enabled, state) == expected


def test_compare_is_strict_about_versions_and_unknown_units():
    installed = hs.parse_dpkg_query(DPKG)
    units = hs.parse_systemctl_show(SHOW, ['docker', 'nosuch', 'caddy'])
    result = hs.compare(
        ['caddy', 'redis-server', 'caddy=2.6.2-6+b13', 'cad*', 'absent'],
        [{'name': 'docker', 'enabled': True, 'state': 'started'},
         {'name': 'nosuch', 'enabled': None, 'state': None},
         {'name': 'caddy', 'enabled': True, 'state': 'started'}],
        installed, units)
    assert result['packages_missing'] == ['redis-server', 'caddy=2.6.2-6+b13', 'cad*', 'absent']
    assert result['packages_installed'] == {'caddy': '2.6.2-6+b13'}
    assert result['services_differ'] == ['nosuch', 'caddy']
    assert result['services_reasons']['caddy'] == ['not enabled (disabled)', 'not active (failed)']
    assert result['services']['docker'] == {'load_state': 'loaded', 'active_state': 'active',
                                            'unit_file_state': 'enabled'}
    assert result['paths_missing'] == []


def test_compare_lists_missing_paths_in_order():
    result = hs.compare([], [], {}, {}, ['/a', '/b', '/c'], ['/b'])
    assert result['paths_missing'] == ['/a', '/c']


def test_queryable():
    assert hs.queryable('docker.io') and hs.queryable('containerd.io') and hs.queryable('libc6:amd64')
    assert not hs.queryable('') and not hs.queryable('docker-ce=5:27.1.1-1') and not hs.queryable('pg*')


# Files: what template/copy/file would write, against what is on disk.

def _want(path, **kw):
    return dict(dict(path=str(path), state='file', checksum=None, owner=None, group=None, mode=None), **kw)


def _me():
    import grp
    import pwd
    import os
    return pwd.getpwuid(os.getuid())[0], grp.getgrgid(os.getgid())[0]


def test_a_file_with_the_same_content_owner_group_and_mode_matches(tmp_path):
    path = tmp_path / 'redis.conf'
    path.write_text('bind 127.0.0.1\n')
    path.chmod(0o640)
    owner, group = _me()
    import hashlib
    want = _want(path, checksum=hashlib.sha1(b'bind 127.0.0.1\n').hexdigest(), owner=owner, group=group, mode='0640')
    seen = hs.read_file_state(str(path), checksum=True)
    assert seen['kind'] == 'file' and seen['mode'] == '0640'
    assert hs.file_differences(want, seen) == []
    # The same file, asked by uid/gid and with a 3-digit or int mode, still matches.
    import os
    assert hs.file_differences(_want(path, owner=str(os.getuid()), group=str(os.getgid()), mode='640'), seen) == []
    assert hs.file_differences(_want(path, mode=0o640), seen) == []


@pytest.mark.parametrize('change,reason', [
    (dict(checksum='0' * 40), 'content differs'),
    (dict(mode='0644'), 'mode is 0640'),
    (dict(mode='u=rw,g=r'), 'mode u=rw,g=r is not octal, so it is not compared here'),
    (dict(mode=True), 'mode True is not octal, so it is not compared here'),
    (dict(owner='no-such-user-here'), 'owner is '),
    (dict(group='no-such-group-here'), 'group is '),
    (dict(state='directory'), 'is a file, not a directory'),
])
def test_each_difference_of_a_file_is_reported(tmp_path, change, reason):
    path = tmp_path / 'f'
    path.write_text('x')
    path.chmod(0o640)
    reasons = hs.file_differences(_want(path, **change), hs.read_file_state(str(path), checksum=True))
    assert len(reasons) == 1 and reasons[0].startswith(reason)


def test_missing_paths_links_and_folders_are_told_apart(tmp_path):
    target = tmp_path / 'target'
    target.write_text('x')
    link = tmp_path / 'link'
    link.symlink_to(target)
    folder = tmp_path / 'folder'
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)
    assert hs.read_file_state(str(tmp_path / 'nothing')) is None
    assert hs.file_differences(_want(tmp_path / 'nothing'), None) == ['missing']
    # A link is never followed: even one to a matching file differs.
    assert hs.file_differences(_want(link), hs.read_file_state(str(link))) == ['is a link, not a file']
    assert hs.file_differences(_want(folder, state='directory', mode='0750'), hs.read_file_state(str(folder))) == []
    assert hs.file_differences(_want(folder, state='directory', mode='0755'),
                               hs.read_file_state(str(folder))) == ['mode is 0750']


def test_without_a_checksum_the_content_is_not_read_or_compared(tmp_path):
    path = tmp_path / 'f'
    path.write_text('anything')
    seen = hs.read_file_state(str(path))
    assert seen['checksum'] is None
    assert hs.file_differences(_want(path), seen) == []
    # A wanted checksum never matches content that was not read.
    assert hs.file_differences(_want(path, checksum='0' * 40), seen) == ['content differs']


def test_compare_files_keeps_the_order_given_and_says_why(tmp_path):
    present = tmp_path / 'present'
    present.write_text('x')
    files = [_want(tmp_path / 'b-missing'), _want(present), _want(tmp_path / 'a-missing')]
    seen = dict((f['path'], hs.read_file_state(f['path'])) for f in files)
    result = hs.compare_files(files, seen)
    assert result['files_differ'] == [str(tmp_path / 'b-missing'), str(tmp_path / 'a-missing')]
    assert result['files_reasons'] == {str(tmp_path / 'b-missing'): ['missing'], str(tmp_path / 'a-missing'): ['missing']}


@pytest.mark.parametrize('mode,expected', [('0644', 0o644), ('750', 0o750), (0o600, 0o600), ('06444', None),
                                           ('0648', None), ('a+r', None), (None, None), (False, None)])
def test_octal_mode(mode, expected):
    assert hs.octal_mode(mode) == expected


# Locales: generated (locale -a) and supported (/usr/share/i18n/SUPPORTED).

LOCALE_A = 'C\nC.utf8\nPOSIX\nen_US.utf8\n'
SUPPORTED = '# comment\naa_DJ.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\nde_DE ISO-8859-1\n'


def test_generated_locales_match_whatever_way_glibc_spells_them():
    supported = hs.parse_supported_locales(SUPPORTED)
    assert supported == ['aa_DJ.UTF-8', 'en_US.UTF-8', 'de_DE.UTF-8', 'de_DE']
    assert hs.compare_locales(['en_US.UTF-8', 'en_US.utf8', 'de_DE.UTF-8'], LOCALE_A, supported) == {
        'locales_missing': ['de_DE.UTF-8'], 'locales_unsupported': ['en_US.utf8']}


def test_an_unreadable_supported_file_reports_nothing_unsupported():
    assert hs.compare_locales(['xx_YY.UTF-8'], LOCALE_A, None) == {
        'locales_missing': ['xx_YY.UTF-8'], 'locales_unsupported': []}
    assert hs.compare_locales(['xx_YY.UTF-8'], LOCALE_A, []) == {
        'locales_missing': ['xx_YY.UTF-8'], 'locales_unsupported': ['xx_YY.UTF-8']}


def test_files_reports_what_was_read_with_checksum_and_content_only_when_asked(tmp_path):
    record = tmp_path / 'current-release.json'
    record.write_text('{"version": "1.0.0"}')
    seen = {str(record): hs.read_file_state(str(record), checksum=True, content=True),
            str(tmp_path / 'gone'): hs.read_file_state(str(tmp_path / 'gone'), content=True)}
    report = hs.compare_files([_want(record), _want(tmp_path / 'gone')], seen)['files']
    import hashlib
    assert report[str(record)]['content'] == '{"version": "1.0.0"}'
    assert report[str(record)]['checksum'] == hashlib.sha1(b'{"version": "1.0.0"}').hexdigest()
    assert report[str(record)]['exists'] is True and report[str(record)]['kind'] == 'file'
    assert report[str(tmp_path / 'gone')] == dict(exists=False, kind=None, owner=None, group=None, mode=None,
                                                  checksum=None, content=None)
    assert hs.read_file_state(str(record))['checksum'] is None
    assert 'content' not in hs.read_file_state(str(record))


def test_content_is_not_read_from_a_folder_or_a_file_over_the_limit(tmp_path, monkeypatch):
    big = tmp_path / 'big'
    big.write_text('x' * 11)
    monkeypatch.setattr(hs, 'CONTENT_LIMIT', 10)
    assert hs.read_file_state(str(big), content=True)['content'] is None
    assert hs.read_file_state(str(tmp_path), content=True)['content'] is None


def test_a_path_given_twice_is_reported_once_with_both_reasons(tmp_path):
    folder = tmp_path / 'scripts'
    folder.mkdir()
    files = [_want(folder, state='directory'), _want(folder, state='file')]
    result = hs.compare_files(files, {str(folder): hs.read_file_state(str(folder))})
    assert result['files_differ'] == [str(folder)]
    assert result['files_reasons'] == {str(folder): ['is a directory, not a file']}


CREATECLUSTER = "# comment\n#initdb_options = ''\ninitdb_options = '--locale=en_US.UTF-8 --encoding=UTF8'\n"
LINE = dict(path='/etc/postgresql-common/createcluster.conf', regexp=r'^#?\s*initdb_options\s*=',
            line="initdb_options = '--locale=en_US.UTF-8 --encoding=UTF8'")


@pytest.mark.parametrize('text,reasons', [
    (CREATECLUSTER, []),
    # lineinfile replaces the last matching line: an earlier right one does not count.
    (CREATECLUSTER + "#initdb_options = ''\n", [r'the last line matching ^#?\s*initdb_options\s*= is another']),
    ("#initdb_options = ''\n", [r'the last line matching ^#?\s*initdb_options\s*= is another']),
    ("# nothing here\n", [r'no line matches ^#?\s*initdb_options\s*=']),
    (None, ['missing']),
    # Same words, other spacing: lineinfile would rewrite it.
    ("initdb_options  = '--locale=en_US.UTF-8 --encoding=UTF8'\n",
     [r'the last line matching ^#?\s*initdb_options\s*= is another']),
])
def test_lines_differ_exactly_when_lineinfile_would_change_the_file(text, reasons):
    assert hs.line_differences(LINE, text) == reasons
    result = hs.compare_lines([LINE], {LINE['path']: text})
    assert result['lines_differ'] == ([LINE['path']] if reasons else [])


def test_a_regexp_that_does_not_compile_raises():
    import re
    with pytest.raises(re.error):
        hs.compare_lines([dict(LINE, regexp='(')], {LINE['path']: 'x\n'})
