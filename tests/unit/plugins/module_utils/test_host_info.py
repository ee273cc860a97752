# -*- coding: utf-8 -*-
"""Reading dpkg-query and systemctl show, and the strict confirmations of host_info."""

import pytest

from ansible_collections.divan.platform.plugins.module_utils import host_info as hi

DPKG = ('caddy\tii \t2.6.2-6+b13\n'
        'redis-server\trc \t5:7.0.15-1\n'          # removed, config files left: not installed
        'python3-docker\tiU \t7.1.0-1\n'           # unpacked, not configured
        'libc6:amd64\tii \t2.36-9\n')

SHOW = ('Id=docker.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n'
        'Id=nosuch.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n\n'
        'Id=caddy.service\nLoadState=loaded\nActiveState=failed\nUnitFileState=disabled\n')

DOCKER = {'name': 'docker', 'enabled': True, 'state': 'started'}


def test_parse_dpkg_query_keeps_only_installed_packages():
    assert hi.parse_dpkg_query(DPKG) == {'caddy': '2.6.2-6+b13', 'libc6': '2.36-9'}
    assert hi.parse_dpkg_query('') == {}
    assert hi.parse_dpkg_query('garbage line\n') == {}


def test_commands_end_options_before_names():
    assert hi.dpkg_query_command(['a'])[-2:] == ['--', 'a']
    assert hi.systemctl_show_command(['docker', 'caddy'])[-3:] == ['--', 'docker', 'caddy']


def test_parse_systemctl_show_maps_blocks_in_order():
    props = hi.parse_systemctl_show(SHOW, ['docker', 'nosuch', 'caddy'])
    assert props['docker']['ActiveState'] == 'active'
    assert props['nosuch']['LoadState'] == 'not-found'
    assert props['caddy']['UnitFileState'] == 'disabled'
    with pytest.raises(ValueError, match=r'returned 3 unit\(s\) for 2 asked'):
        hi.parse_systemctl_show(SHOW, ['docker', 'nosuch'])


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
    ({}, None, None, ['not loaded (not read)']),
])
def test_service_differences(props, enabled, state, expected):
    assert hi.service_differences(props, enabled, state) == expected


def test_only_plain_names_that_dpkg_reports_ii_are_confirmed():
    result = hi.summarize(['caddy', 'redis-server', 'python3-docker', 'caddy=2.6.2-6+b13', 'cad*', 'absent', 'caddy'],
                          [], hi.parse_dpkg_query(DPKG), {})
    assert result['installed'] == ['caddy']
    assert result['versions'] == {'caddy': '2.6.2-6+b13'}


def test_only_units_read_in_exactly_the_wanted_state_are_confirmed():
    units = hi.parse_systemctl_show(SHOW, ['docker', 'nosuch', 'caddy'])
    result = hi.summarize([], [DOCKER, {'name': 'nosuch', 'enabled': None, 'state': None},
                               {'name': 'caddy', 'enabled': True, 'state': 'started'}], {}, units)
    assert result['services_confirmed'] == [DOCKER]
    assert result['services_reasons'] == {'nosuch': ['not loaded (not-found)'],
                                          'caddy': ['not enabled (disabled)', 'not active (failed)']}
    assert result['units']['docker'] == {'load_state': 'loaded', 'active_state': 'active', 'unit_file_state': 'enabled'}


def test_a_confirmed_entry_comes_back_as_given_so_a_task_can_look_for_itself():
    props = {'docker': {'LoadState': 'loaded', 'ActiveState': 'active', 'UnitFileState': 'enabled'}}
    # Options that were not set (None after the argument spec) are left out ...
    result = hi.summarize([], [{'name': 'docker', 'enabled': None, 'state': 'started'}], {}, props)
    assert result['services_confirmed'] == [{'name': 'docker', 'state': 'started'}]
    # ... so an entry asked for with other options is not the entry a task acts on.
    assert DOCKER not in result['services_confirmed']


def test_nothing_read_confirms_nothing():
    # A forgotten or empty read must make every gated task run, never skip.
    result = hi.summarize([], [], {}, {})
    assert result['installed'] == [] and result['services_confirmed'] == []
    result = hi.summarize(['caddy'], [DOCKER], {}, {})
    assert result['installed'] == [] and result['services_confirmed'] == []
    assert result['services_reasons'] == {'docker': ['not loaded (not read)']}


def test_queryable():
    assert hi.queryable('docker.io') and hi.queryable('containerd.io') and hi.queryable('libc6:amd64')
    assert not hi.queryable('') and not hi.queryable('docker-ce=5:27.1.1-1') and not hi.queryable('pg*')


# The roles' gates, read statically: a task gated on a host_info result acts
# on exactly the variable the gate checks, so a forgotten or stale read can
# only make it run, never skip it.

def _role_tasks():
    import pathlib

    import yaml

    def walk(tasks, where):
        for task in tasks or []:
            yield where, task
            for key in ('block', 'rescue', 'always'):
                if key in task:
                    yield from walk(task[key], where)

    roles = pathlib.Path(__file__).resolve().parents[4] / 'roles'
    for path in sorted(roles.glob('*/tasks/*.yml')):
        yield from walk(yaml.safe_load(path.read_text()), '%s/%s' % (path.parts[-3], path.name))


def _conditions(task):
    when = task.get('when', [])
    return [str(c).strip() for c in (when if isinstance(when, list) else [when])]


def _single_var(value):
    import re

    m = re.match(r'^\{\{\s*([a-z_][a-z0-9_.]*)\s*\}\}$', str(value).strip())
    return m.group(1) if m else None


def test_every_task_gated_on_host_info_acts_on_what_the_gate_checks():
    import re

    tasks = list(_role_tasks())
    reads = set(task['register'] for _where, task in tasks if 'divan.platform.host_info' in task)
    assert len(reads) >= 4, reads
    gated = 0
    for where, task in tasks:
        conditions = _conditions(task)
        used = [c for c in conditions if any(re.search(r'\b%s\.' % re.escape(r), c) for r in reads)]
        if not used:
            continue
        assert len(conditions) == 1, (where, task['name'], 'a gate stands alone (other conditions only with "or")')
        gated += 1
        condition = conditions[0]
        if 'ansible.builtin.apt' in task:
            names = _single_var(task['ansible.builtin.apt']['name'])
            assert names, (where, task['name'], 'apt name must be one list variable')
            gate = re.match(r'^%s is not subset\((\w+)\.installed\)( or .*)?$' % re.escape(names), condition)
        elif 'ansible.builtin.systemd_service' in task:
            args = task['ansible.builtin.systemd_service']
            unit = (_single_var(args['name']) or '').rpartition('.name')[0]
            assert unit, (where, task['name'], 'the unit name must be <dict>.name')
            for key in ('enabled', 'state'):
                assert _single_var(args.get(key, '{{ %s.%s }}' % (unit, key))) == '%s.%s' % (unit, key), (where, key)
            gate = re.match(r'^%s not in (\w+)\.services_confirmed( or .*)?$' % re.escape(unit), condition)
        else:
            gate = None
        assert gate and gate.group(1) in reads, (where, task['name'], condition)
        # Whatever follows the gate can only add runs; it must not read host_info again.
        assert not any(re.search(r'\b%s\.' % re.escape(r), gate.group(2) or '') for r in reads), (where, condition)
    assert gated >= 10, gated


def test_no_role_uses_the_removed_file_line_or_locale_gates():
    import re

    removed = r'\b(files_differ|files_reasons|lines_differ|locales_missing|locales_unsupported|paths_missing|' \
              r'packages_missing|services_differ|host_state)\b'
    for where, task in _role_tasks():
        assert not re.search(removed, str(task)), (where, task.get('name'))
