# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One read of a Debian host's packages and systemd units, for divan.platform.host_info.

A role reads once which of its packages dpkg reports installed and which of
its units are exactly in the wanted boot and run state, and skips its
ansible.builtin.apt and ansible.builtin.systemd_service tasks only for what
the read positively confirmed. The answers are confirmations, never
"differences": a name that was not asked, could not be read or is in any
other state is simply not confirmed, so the task that acts on it runs.
"""

DPKG_QUERY_FORMAT = '${Package}\\t${db:Status-Abbrev}\\t${Version}\\n'
SYSTEMCTL_PROPERTIES = 'Id,LoadState,ActiveState,UnitFileState'
RUN_STATES = ('started', 'stopped', 'restarted', 'reloaded')


def queryable(package):
    """A plain package name; one with a version or pattern (name=1.2, name*) is never confirmed."""
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
    """Why a unit is not confirmed in the wanted state (an empty list when it is).

    ``enabled`` True/False/None (not managed); ``state`` one of RUN_STATES or None.
    Only the exact states confirm: UnitFileState "enabled" for enabled=True,
    "disabled" for False; ActiveState "active" for started, "inactive" for
    stopped. restarted and reloaded are never confirmed (they always act).
    """
    if props.get('LoadState') != 'loaded':
        return ['not loaded (%s)' % (props.get('LoadState') or 'not read')]
    reasons = []
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
    elif state is not None and state not in RUN_STATES:
        reasons.append('unknown state %s' % state)
    return reasons


def given(entry):
    """A services entry as the caller wrote it: the keys it set (None means not set)."""
    return dict((key, value) for key, value in entry.items() if value is not None)


def summarize(packages, services, installed, unit_props):
    """The module's result from what was read (no I/O).

    ``installed`` is parse_dpkg_query()'s answer, ``unit_props``
    parse_systemctl_show()'s. ``installed`` in the result lists the names of
    ``packages`` that dpkg reports installed, in the order given;
    ``services_confirmed`` the entries of ``services`` (as given) whose unit
    is exactly in the wanted state. A task may skip only what is in them.
    """
    confirmed_packages = []
    for name in packages:
        if queryable(name) and name in installed and name not in confirmed_packages:
            confirmed_packages.append(name)
    confirmed_services = []
    reasons = {}
    units = {}
    for svc in services:
        props = unit_props.get(svc['name'], {})
        units[svc['name']] = dict(load_state=props.get('LoadState', ''), active_state=props.get('ActiveState', ''),
                                  unit_file_state=props.get('UnitFileState', ''))
        why = service_differences(props, svc.get('enabled'), svc.get('state'))
        if why:
            reasons[svc['name']] = why
        elif given(svc) not in confirmed_services:
            confirmed_services.append(given(svc))
    return dict(
        installed=confirmed_packages,
        versions=dict((name, installed[name]) for name in confirmed_packages),
        units=units,
        services_confirmed=confirmed_services,
        services_reasons=reasons,
    )
