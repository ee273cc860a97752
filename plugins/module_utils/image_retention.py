# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which release images an app host keeps, for divan.platform.image_retention.

The app role records every release in ``<app_root>/releases.log`` (one JSON
object per line, ``identity.images`` the service's image references,
``identity.image_ids`` the IDs they resolved to) and the running one in
``current-release.json``. This keeps the images of the current release and of
the newest releases up to ``keep`` (distinct by ``identity.images``), and
removes the other images of the repositories those releases name: by their
exact references (``docker image rm <repo:tag>``, ``<repo@digest>``), and the
untagged images a release recorded, by ID. An image a container uses (running
or stopped) is never removed; nothing outside the releases' repositories is
looked at; there is no ``docker image prune``.

Every docker CLI call goes through ``run(args) -> (rc, stdout, stderr)``
(``module.run_command`` in the module, a stub in the unit tests); everything
else is plain functions of text.
"""

import json
import re

NONE = '<none>'
DOCKER_HUB_PREFIXES = ('docker.io/', 'index.docker.io/', 'registry-1.docker.io/')

IMAGE_LS_COMMAND = ['docker', 'image', 'ls', '--all', '--digests', '--no-trunc', '--format', '{{json .}}']
PS_IMAGES_COMMAND = ['docker', 'ps', '--all', '--no-trunc', '--format', '{{.ID}}\t{{.Image}}']

_SIZE = re.compile(r'^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKMGTP]?i?)B?\s*$')
# docker prints decimal units (kB, MB, GB: github.com/docker/go-units HumanSize); KiB... are binary
_SIZE_UNITS = {'': 1, 'K': 1000, 'M': 1000 ** 2, 'G': 1000 ** 3, 'T': 1000 ** 4, 'P': 1000 ** 5,
               'KI': 1024, 'MI': 1024 ** 2, 'GI': 1024 ** 3, 'TI': 1024 ** 4, 'PI': 1024 ** 5}


class DockerError(Exception):
    """A docker CLI call failed; the message says which and why."""


# ---------------------------------------------------------------- references


def split_ref(ref):
    """``(repository, tag, digest)`` of an image reference; tag and digest are '' when absent.

    ``registry:5000/divan/backend:1.1.0`` -> ``('registry:5000/divan/backend', '1.1.0', '')``: a colon
    is a tag only in the last path component (the first may carry a registry port).
    """
    ref = (ref or '').strip()
    name, _sep, digest = ref.partition('@')
    slash = name.rfind('/')
    colon = name.rfind(':')
    tag = ''
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    return name, tag, digest


def normalize_repository(repository):
    """The repository as ``docker image ls`` shows it: no ``docker.io/`` and no ``library/`` prefix."""
    repo = (repository or '').strip()
    for prefix in DOCKER_HUB_PREFIXES:
        if repo.startswith(prefix):
            repo = repo[len(prefix):]
            if repo.startswith('library/') and repo.count('/') == 1:
                repo = repo[len('library/'):]
            break
    return repo


def parse_size(text):
    """Bytes of a size as docker prints it (``464MB``, ``1.2kB``, ``12B``; decimal units); 0 when unreadable."""
    match = _SIZE.match(str(text or ''))
    if not match:
        return 0
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[unit.upper()])


# ---------------------------------------------------------------- release records


def _images_of(identity):
    images = identity.get('images') if isinstance(identity, dict) else None
    if not isinstance(images, dict):
        return {}
    return dict((str(k), str(v)) for k, v in images.items() if isinstance(v, str) and v.strip())


def _ids_of(identity):
    ids = identity.get('image_ids') if isinstance(identity, dict) else None
    if not isinstance(ids, dict):
        return {}
    return dict((str(k), str(v)) for k, v in ids.items() if isinstance(v, str) and v.strip())


def release_from_identity(identity, **extra):
    release = {'version': str(identity.get('version', '')) if isinstance(identity, dict) else '',
               'images': _images_of(identity), 'image_ids': _ids_of(identity)}
    release.update(extra)
    return release


def release_key(release):
    """Releases are the same when their image references are (the version alone does not count)."""
    return tuple(sorted(release['images'].items()))


def parse_releases_log(text):
    """``(releases, warnings)``: the releases of releases.log in file order (oldest first).

    Lines without an identity (``action: deploy-failed``) and blank lines are ignored; a line
    that is not a JSON object, or whose identity has no images, is skipped with a warning.
    """
    releases = []
    warnings = []
    for number, line in enumerate((text or '').splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            warnings.append('releases log line %d is not JSON (%s): skipped' % (number, exc))
            continue
        if not isinstance(record, dict):
            warnings.append('releases log line %d is not a JSON object: skipped' % number)
            continue
        identity = record.get('identity')
        if identity is None:
            continue  # a failure line (deploy-failed) records no release
        release = release_from_identity(identity, action=record.get('action'),
                                        deployed_at=record.get('deployed_at'), line=number)
        if not release['images']:
            warnings.append('releases log line %d has an identity without images: skipped' % number)
            continue
        releases.append(release)
    return releases, warnings


def parse_current_release(text):
    """The current release (``version``, ``images``, ``image_ids``) of current-release.json; ValueError when unusable."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise ValueError('the current release record is not JSON (%s)' % exc)
    identity = record.get('identity') if isinstance(record, dict) else None
    release = release_from_identity(identity or {})
    if not release['images']:
        raise ValueError('the current release record has no identity.images')
    return release


def select_kept(releases, current, keep):
    """The kept releases, newest first: the current one, then the newest other distinct ones, ``keep`` in all."""
    if keep < 1:
        raise ValueError('keep must be 1 or more (got %d)' % keep)
    kept = []
    seen = set()
    candidates = ([current] if current else []) + list(reversed(releases))
    for release in candidates:
        key = release_key(release)
        if key in seen:
            continue
        if len(kept) >= keep:
            break
        seen.add(key)
        kept.append(release)
    return kept


# ---------------------------------------------------------------- docker output


def parse_image_ls(text):
    """Rows of ``docker image ls --all --digests --no-trunc --format '{{json .}}'``.

    Each row: ``id``, ``repository``, ``tag``, ``digest`` ('' for ``<none>``), ``size`` (bytes,
    best effort), ``ref`` (``repo:tag``, else ``repo@digest``, else '' for an untagged image).
    """
    rows = []
    for line in (text or '').splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if not isinstance(item, dict) or not item.get('ID'):
            continue

        def field(name):
            value = str(item.get(name) or '')
            return '' if value == NONE else value

        repo, tag, digest = field('Repository'), field('Tag'), field('Digest')
        image_id = field('ID')
        if image_id and not image_id.startswith('sha256:') and len(image_id) == 64:
            image_id = 'sha256:' + image_id
        ref = ''
        if repo and tag:
            ref = '%s:%s' % (repo, tag)
        elif repo and digest:
            ref = '%s@%s' % (repo, digest)
        rows.append({'id': image_id, 'repository': repo, 'tag': tag, 'digest': digest,
                     'size': parse_size(item.get('Size')), 'ref': ref})
    return rows


def parse_ps_images(text):
    """``(container_ids, image_refs)`` of ``docker ps --all --no-trunc --format '{{.ID}}\\t{{.Image}}'``."""
    ids = []
    refs = []
    for line in (text or '').splitlines():
        cid, _sep, image = line.strip().partition('\t')
        if cid:
            ids.append(cid)
        if image.strip():
            refs.append(image.strip())
    return ids, refs


def rows_matching(rows, ref):
    """The image rows a reference (as a release or a container names it) points at."""
    ref = (ref or '').strip()
    if not ref:
        return []
    if ref.startswith('sha256:') or re.match(r'^[0-9a-f]{12,64}$', ref):
        wanted = ref if ref.startswith('sha256:') else 'sha256:' + ref
        return [r for r in rows if r['id'].startswith(wanted)]
    repo, tag, digest = split_ref(ref)
    repo = normalize_repository(repo)
    if not digest and not tag:
        tag = 'latest'
    matched = []
    for row in rows:
        if normalize_repository(row['repository']) != repo:
            continue
        if (digest and row['digest'] == digest) or (not digest and tag and row['tag'] == tag):
            matched.append(row)
    return matched


# ---------------------------------------------------------------- the decision


def plan_removal(releases, current, keep, rows, container_refs=(), container_image_ids=(), keep_images=()):
    """What to remove and what is kept, without running anything.

    ``keep_images`` are references kept whatever the records say (the role passes the images of the
    release the run deploys: in check mode it is not recorded yet).

    Returns a dict: ``remove`` (rows, each with ``ref`` set to what ``docker image rm`` gets: the
    exact reference, or the ID of an untagged image a release recorded), ``kept`` (the kept
    releases' references), ``kept_releases`` (their versions), ``in_use`` (references and IDs of
    the releases' repositories kept because a container uses them), ``freed_bytes`` (the size of
    the images every reference of which is removed).
    """
    kept_releases = select_kept(releases, current, keep)
    kept_refs = []
    for release in kept_releases:
        for ref in release['images'].values():
            if ref not in kept_refs:
                kept_refs.append(ref)
    for ref in keep_images:
        if ref and ref not in kept_refs:
            kept_refs.append(ref)

    managed = set()
    for release in releases:
        for ref in release['images'].values():
            managed.add(normalize_repository(split_ref(ref)[0]))

    kept_ids = set()
    for release in kept_releases:
        kept_ids.update(release['image_ids'].values())
    for ref in kept_refs:
        kept_ids.update(r['id'] for r in rows_matching(rows, ref))

    used_ids = set(container_image_ids)
    for ref in container_refs:
        used_ids.update(r['id'] for r in rows_matching(rows, ref))
    protected = kept_ids | used_ids

    kept_keys = set(release_key(r) for r in kept_releases)
    recorded_ids = set()
    for release in releases:
        if release_key(release) not in kept_keys:
            recorded_ids.update(release['image_ids'].values())

    remove = []
    seen_refs = set()
    in_use = []
    for row in rows:
        in_managed = row['repository'] and normalize_repository(row['repository']) in managed
        dangling_recorded = not row['repository'] and row['id'] in recorded_ids
        if not (in_managed or dangling_recorded):
            continue
        target = row['ref'] if in_managed else row['id']
        if not target or target in seen_refs:
            continue
        if row['id'] in used_ids and row['id'] not in kept_ids:
            if target not in in_use:
                in_use.append(target)
            continue
        if row['id'] in protected:
            continue
        seen_refs.add(target)
        remove.append(dict(row, ref=target))

    # An image is freed only when every row of it (in any repository) goes.
    targets = set(r['ref'] for r in remove)
    freed = 0
    for image_id in sorted(set(r['id'] for r in remove)):
        rows_of_image = [r for r in rows if r['id'] == image_id]
        if _all_rows_go(rows_of_image, targets):
            freed += rows_of_image[0]['size']

    return {'remove': remove, 'kept': kept_refs, 'kept_releases': [r['version'] for r in kept_releases],
            'in_use': in_use, 'freed_bytes': freed}


def _all_rows_go(rows, targets):
    """Every row of one image is removed: its tag or digest reference, or its ID for an untagged one."""
    for row in rows:
        if row['ref']:
            if row['ref'] in targets:
                continue
            # a digest row goes with the last tag of its repository in the same image
            if not row['tag'] and any(o['repository'] == row['repository'] and o['ref'] in targets
                                      for o in rows if o['tag']):
                continue
            return False
        elif row['id'] not in targets:
            return False
    return True


# ---------------------------------------------------------------- docker calls


def read_images(run):
    rc, out, err = run(IMAGE_LS_COMMAND)
    if rc != 0:
        raise DockerError('docker image ls failed (rc %d): %s' % (rc, (err or out).strip()))
    return parse_image_ls(out)


def read_containers(run):
    """``(image_refs, image_ids)`` of every container, running or stopped."""
    rc, out, err = run(PS_IMAGES_COMMAND)
    if rc != 0:
        raise DockerError('docker ps failed (rc %d): %s' % (rc, (err or out).strip()))
    container_ids, refs = parse_ps_images(out)
    image_ids = []
    if container_ids:
        rc, out, err = run(['docker', 'container', 'inspect', '--format', '{{.Image}}'] + container_ids)
        # a container removed in between is "No such container"; any other failure stops here
        if rc != 0 and 'no such container' not in (err or '').lower():
            raise DockerError('docker container inspect failed (rc %d): %s' % (rc, (err or out).strip()))
        image_ids = [line.strip() for line in out.splitlines() if line.strip()]
    return refs, image_ids


def remove_image(run, target):
    """``(status, detail)``: ``removed`` (detail: the IDs docker deleted), ``gone`` or ``skipped`` (reason)."""
    rc, out, err = run(['docker', 'image', 'rm', target])
    if rc == 0:
        deleted = [line.split(':', 1)[1].strip() for line in out.splitlines() if line.startswith('Deleted:')]
        return 'removed', deleted
    message = (err or out).strip()
    if 'no such image' in message.lower():
        return 'gone', []
    return 'skipped', message or 'docker image rm exited %d' % rc


def retain(run, log_text, current_text, keep, check_mode=False, keep_images=()):
    """The module's whole run: plan, then (outside check mode) remove. Returns the result dict.

    ``log_text`` / ``current_text`` are None when the file does not exist. Raises ValueError or
    DockerError with a message for the user.
    """
    if keep < 1:
        raise ValueError('keep must be 1 or more (got %d); the role skips this module for 0 (keep every image)' % keep)
    releases, warnings = parse_releases_log(log_text or '')
    result = {'changed': False, 'removed': [], 'kept': [], 'kept_releases': [], 'skipped': [], 'in_use': [],
              'freed_bytes': 0, 'warnings': warnings}
    if not releases:
        result['msg'] = 'no release recorded in the releases log: nothing to remove'
        return result
    if current_text is None:
        raise ValueError('the releases log names releases but the current release record is missing: '
                         'nothing is removed without knowing the running release')
    current = parse_current_release(current_text)

    rows = read_images(run)
    container_refs, container_ids = read_containers(run)
    plan = plan_removal(releases, current, keep, rows, container_refs, container_ids, keep_images)
    result.update(kept=plan['kept'], kept_releases=plan['kept_releases'], in_use=plan['in_use'])

    if check_mode:
        result.update(removed=[r['ref'] for r in plan['remove']], freed_bytes=plan['freed_bytes'],
                      changed=bool(plan['remove']))
    else:
        sizes = dict((r['id'], r['size']) for r in rows)
        planned_ids = set(r['id'] for r in plan['remove'])
        freed_ids = set()
        did_remove = False
        for row in plan['remove']:
            status, detail = remove_image(run, row['ref'])
            if status == 'skipped':
                result['skipped'].append({'ref': row['ref'], 'reason': detail})
                continue
            if status == 'removed':
                result['removed'].append(row['ref'])
                did_remove = True
                # docker also names the parent layers it deleted: only the planned images count
                freed_ids.update(i for i in detail if i in planned_ids)
            else:  # gone already, e.g. a digest reference removed with the image's last tag
                result['removed'].append(row['ref'])
        result['freed_bytes'] = sum(sizes[i] for i in freed_ids)
        result['changed'] = did_remove

    verb = 'would remove' if check_mode else 'removed'
    result['msg'] = '%s %d image reference(s) (%.1f MB); kept the images of %d release(s) (%s)%s%s' % (
        verb, len(result['removed']), result['freed_bytes'] / 1e6, len(plan['kept_releases']),
        ', '.join(v or '?' for v in plan['kept_releases']),
        '; %d in use by a container' % len(plan['in_use']) if plan['in_use'] else '',
        '; %d refused by docker (skipped)' % len(result['skipped']) if result['skipped'] else '')
    return result
