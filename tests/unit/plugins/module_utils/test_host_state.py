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
