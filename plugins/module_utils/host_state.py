# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One read of a Debian host's packages, systemd units and paths, for divan.platform.host_state.

A role asks once whether its packages are installed and its units are in the
wanted boot and run state, and runs ansible.builtin.apt and
ansible.builtin.systemd_service only when something differs. The answers are
strict: anything this code cannot read, or is unsure of, counts as
"differs", so the real task runs and decides.
"""

DPKG_QUERY_FORMAT = '${Package}\\t${db:Status-Abbrev}\\t${Version}\\n'
SYSTEMCTL_PROPERTIES = 'Id,LoadState,ActiveState,UnitFileState'
RUN_STATES = ('started', 'stopped', 'restarted', 'reloaded')


def queryable(package):
    """A plain package name; one with a version or pattern (name=1.2, name*) is never assumed installed."""
    return bool(package) and not any(c in package for c in '=<>*?[]')


def dpkg_query_command(packages):
    return ['dpkg-query', '--show', '--showformat=' + DPKG_QUERY_FORMAT, '--'] + list(packages)


def parse_dpkg_query(text):
    """{package: version} of the installed packages in dpkg-query's output (status "ii")."""
    installed = {}
    for line in text.splitlines():
        fields = line.split('\t')
        if len(fields) != 3:
            continue
        name, status, version = fields
        # db:Status-Abbrev is desired/status/error flags: "ii " is installed and fine.
        if status.strip() == 'ii':
            installed[name.split(':', 1)[0]] = version
    return installed


def systemctl_show_command(units):
    return ['systemctl', 'show', '--property=' + SYSTEMCTL_PROPERTIES, '--'] + list(units)


def parse_systemctl_show(text, units):
    """Property dicts of ``units``, in order: systemctl show prints one blank-line separated block each."""
    blocks = []
    current = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition('=')
        if sep:
            current[key] = value
    if current:
        blocks.append(current)
    if len(blocks) != len(units):
        raise ValueError('systemctl show returned %d unit(s) for %d asked' % (len(blocks), len(units)))
    return dict(zip(units, blocks))


def service_differences(props, enabled=None, state=None):
    """Why a unit is not in the wanted state (an empty list when it is).

    ``enabled`` True/False/None (not managed); ``state`` one of RUN_STATES or None.
    Only the exact states leave nothing to do: UnitFileState "enabled" for
    enabled=True, "disabled" for False; ActiveState "active" for started,
    "inactive" for stopped. restarted and reloaded always have work to do.
    """
    reasons = []
    if props.get('LoadState') != 'loaded':
        return ['not loaded (%s)' % (props.get('LoadState') or 'unknown')]
    unit_file = props.get('UnitFileState', '')
    active = props.get('ActiveState', '')
    if enabled is True and unit_file != 'enabled':
        reasons.append('not enabled (%s)' % (unit_file or 'unknown'))
    if enabled is False and unit_file != 'disabled':
        reasons.append('not disabled (%s)' % (unit_file or 'unknown'))
    if state == 'started' and active != 'active':
        reasons.append('not active (%s)' % (active or 'unknown'))
    elif state == 'stopped' and active != 'inactive':
        reasons.append('not stopped (%s)' % (active or 'unknown'))
    elif state in ('restarted', 'reloaded'):
        reasons.append('state %s always acts' % state)
    return reasons


def compare(packages, services, installed, unit_props, paths=(), existing=()):
    """The module's result from what was read (no I/O)."""
    missing = [p for p in packages if not queryable(p) or p not in installed]
    differ = {}
    for svc in services:
        props = unit_props.get(svc['name'], {})
        reasons = service_differences(props, svc.get('enabled'), svc.get('state'))
        if reasons:
            differ[svc['name']] = reasons
    reported = {}
    for svc in services:
        props = unit_props.get(svc['name'], {})
        reported[svc['name']] = dict(load_state=props.get('LoadState', ''), active_state=props.get('ActiveState', ''),
                                     unit_file_state=props.get('UnitFileState', ''))
    return dict(
        packages_installed=dict((p, installed[p]) for p in packages if p not in missing),
        packages_missing=missing,
        services=reported,
        services_differ=[svc['name'] for svc in services if svc['name'] in differ],
        services_reasons=differ,
        paths_missing=[p for p in paths if p not in existing],
    )
