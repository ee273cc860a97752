# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One read of a Debian host's packages, systemd units, paths and files, for divan.platform.host_state.

A role asks once whether its packages are installed and its units are in the
wanted boot and run state, and runs ansible.builtin.apt and
ansible.builtin.systemd_service only when something differs. The answers are
strict: anything this code cannot read, or is unsure of, counts as
"differs", so the real task runs and decides.

Files work the same way: a role passes the checksum, owner, group and mode
its template, copy or file task would write, and gates that task on the
answer. A file matches only when it is a regular file (a folder for
state=directory, never a link) with exactly that content and those
attributes.
"""

import grp
import hashlib
import os
import pwd
import re
import stat

DPKG_QUERY_FORMAT = '${Package}\\t${db:Status-Abbrev}\\t${Version}\\n'
SYSTEMCTL_PROPERTIES = 'Id,LoadState,ActiveState,UnitFileState'
RUN_STATES = ('started', 'stopped', 'restarted', 'reloaded')
FILE_STATES = ('file', 'directory')


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


def sha1_of(path):
    digest = hashlib.sha1()
    with open(path, 'rb') as fh:
        for block in iter(lambda: fh.read(65536), b''):
            digest.update(block)
    return digest.hexdigest()


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return None


CONTENT_LIMIT = 1024 * 1024


def read_file_state(path, checksum=False, content=False):
    """What is at ``path`` (not following a link), or None when nothing is.

    ``checksum`` adds the SHA-1 of a regular file's content, the checksum that
    ansible.builtin.copy and template compare; ``content`` adds the content
    itself (UTF-8 text, for a regular file of at most CONTENT_LIMIT bytes;
    otherwise None).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return dict(kind='path that cannot be read (%s)' % exc.strerror, uid=None, gid=None, owner=None,
                    group=None, mode=None, checksum=None)
    if stat.S_ISREG(st.st_mode):
        kind = 'file'
    elif stat.S_ISDIR(st.st_mode):
        kind = 'directory'
    elif stat.S_ISLNK(st.st_mode):
        kind = 'link'
    else:
        kind = 'other'
    seen = dict(kind=kind, uid=st.st_uid, gid=st.st_gid, owner=_name(pwd.getpwuid, st.st_uid),
                group=_name(grp.getgrgid, st.st_gid), mode='%04o' % stat.S_IMODE(st.st_mode), checksum=None)
    if checksum and kind == 'file':
        try:
            seen['checksum'] = sha1_of(path)
        except OSError:
            pass  # unreadable content never matches a wanted checksum
    if content:
        seen['content'] = None
        if kind == 'file' and st.st_size <= CONTENT_LIMIT:
            try:
                with open(path, 'rb') as fh:
                    seen['content'] = fh.read().decode('utf-8', 'replace')
            except OSError:
                pass
    return seen


def octal_mode(mode):
    """The permission bits of a mode as ansible.builtin.file takes it, or None when it is not octal.

    An int is used as given (YAML reads an unquoted 0644 as 420, which is
    0o644 too); a string must be 3 or 4 octal digits ("0644", "750").
    Symbolic modes (u=rw,g=r) return None: the caller counts them as differing.
    """
    if isinstance(mode, bool):
        return None
    if isinstance(mode, int):
        return mode
    text = str(mode)
    if 3 <= len(text) <= 4 and all(c in '01234567' for c in text):
        return int(text, 8)
    return None


def _same_account(wanted, name, number):
    wanted = str(wanted)
    return wanted == name or (wanted.isdigit() and int(wanted) == number)


def file_differences(want, seen):
    """Why what is at a path is not what ``want`` describes (an empty list when it is).

    ``want``: path, state (file or directory), and optionally checksum,
    owner, group and mode; a key left out (or None) is not compared.
    ``seen``: read_file_state()'s answer.
    """
    if seen is None:
        return ['missing']
    state = want.get('state') or 'file'
    if seen['kind'] != state:
        return ['is a %s, not a %s' % (seen['kind'], state)]
    reasons = []
    if state == 'file' and want.get('checksum') is not None and seen.get('checksum') != want['checksum']:
        reasons.append('content differs')
    if want.get('owner') is not None and not _same_account(want['owner'], seen['owner'], seen['uid']):
        reasons.append('owner is %s' % (seen['owner'] or seen['uid']))
    if want.get('group') is not None and not _same_account(want['group'], seen['group'], seen['gid']):
        reasons.append('group is %s' % (seen['group'] or seen['gid']))
    if want.get('mode') is not None:
        wanted = octal_mode(want['mode'])
        if wanted is None:
            reasons.append('mode %s is not octal, so it is not compared here' % want['mode'])
        elif wanted != int(seen['mode'], 8):
            reasons.append('mode is %s' % seen['mode'])
    return reasons


def compare_files(files, seen):
    """files_differ (paths, in order), files_reasons and files from ``seen`` ({path: read_file_state()}).

    ``files`` is what was read of each path: exists, kind, owner, group, mode,
    and checksum or content when asked (None otherwise).
    """
    reasons = {}
    for want in files:
        why = file_differences(want, seen.get(want['path']))
        if why:
            reasons.setdefault(want['path'], []).extend(why)
    report = {}
    for path, found in seen.items():
        found = found or {}
        report[path] = dict(exists=bool(found), kind=found.get('kind'), owner=found.get('owner'),
                            group=found.get('group'), mode=found.get('mode'), checksum=found.get('checksum'),
                            content=found.get('content'))
    differ = []
    for want in files:
        if want['path'] in reasons and want['path'] not in differ:
            differ.append(want['path'])
    return dict(files_differ=differ, files_reasons=reasons, files=report)


def last_matching_line(text, regexp):
    """The last line of ``text`` that ``regexp`` matches (re.search), or None."""
    pattern = re.compile(regexp)
    found = None
    for line in text.splitlines():
        if pattern.search(line):
            found = line
    return found


def line_differences(want, text):
    """Why ansible.builtin.lineinfile (state present, ``regexp`` and ``line``) would change ``text``.

    lineinfile replaces the last line that ``regexp`` matches, so nothing is
    to do only when that line is ``line`` exactly. ``text`` None: no file.
    """
    if text is None:
        return ['missing']
    found = last_matching_line(text, want['regexp'])
    if found is None:
        return ['no line matches %s' % want['regexp']]
    if found != want['line']:
        return ['the last line matching %s is another' % want['regexp']]
    return []


def compare_lines(lines, texts):
    """lines_differ (paths, in order) and lines_reasons; ``texts`` is {path: content or None}."""
    reasons = {}
    for want in lines:
        why = line_differences(want, texts.get(want['path']))
        if why:
            reasons.setdefault(want['path'], []).extend(why)
    differ = []
    for want in lines:
        if want['path'] in reasons and want['path'] not in differ:
            differ.append(want['path'])
    return dict(lines_differ=differ, lines_reasons=reasons)


SUPPORTED_LOCALES_FILE = '/usr/share/i18n/SUPPORTED'


def locale_key(name):
    """en_US.UTF-8, en_US.utf8 and en_us.utf-8 are one locale to glibc: compare them as en_us.utf8."""
    return name.lower().replace('-', '')


def parse_supported_locales(text):
    """The locale names of /usr/share/i18n/SUPPORTED (first field of each line: en_US.UTF-8)."""
    return [line.split()[0] for line in text.splitlines() if line.strip() and not line.startswith('#')]


def compare_locales(locales, generated_text, supported=None):
    """locales_missing (not in `locale -a`) and locales_unsupported (not in SUPPORTED).

    ``supported`` None means SUPPORTED could not be read (no locales package
    yet): then nothing is reported unsupported, and the generation task decides.
    """
    generated = set(locale_key(name) for name in generated_text.split())
    return dict(
        locales_missing=[name for name in locales if locale_key(name) not in generated],
        locales_unsupported=[] if supported is None else [name for name in locales if name not in supported],
    )


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
