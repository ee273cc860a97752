# -*- coding: utf-8 -*-
"""Which release images image_retention keeps and removes, from release logs and docker's output."""

import hashlib
import json

import pytest

from ansible_collections.divan.platform.plugins.module_utils import image_retention as ir

REG = 'registry:5000/divan'
SERVICES = ('backend', 'frontend', 'activities-core')


def sha(n):
    return 'sha256:%064x' % n


def identity(version, digest_backend=None):
    images = dict((s, '%s/%s:%s' % (REG, s, version)) for s in SERVICES)
    if digest_backend:
        images['backend'] = '%s/backend@%s' % (REG, digest_backend)
    return {'version': version, 'images': images,
            'image_ids': dict((s, image_id(s, version)) for s in SERVICES)}


def image_id(service, version):
    return 'sha256:' + hashlib.sha256(('%s %s' % (service, version)).encode()).hexdigest()


def line(ident, action='deploy'):
    return json.dumps({'identity': ident, 'action': action, 'deployed_at': '2026-12-01T10:00:00Z'}, sort_keys=True)


def failed_line():
    return json.dumps({'action': 'deploy-failed', 'version': '9.9.9', 'error': 'compose failed'})


def log(*versions):
    return '\n'.join(line(identity(v)) for v in versions) + '\n'


def current(version):
    return json.dumps({'identity': identity(version), 'previous': {}})


def ls_row(repo, tag, iid, size='10MB', digest='<none>'):
    return json.dumps({'Containers': 'N/A', 'CreatedAt': '2026-12-01 13:44:58 +0000 UTC', 'Digest': digest,
                       'ID': iid, 'Repository': repo, 'SharedSize': 'N/A', 'Size': size, 'Tag': tag,
                       'UniqueSize': 'N/A', 'VirtualSize': size})


def inventory(*versions, **extra):
    rows = []
    for v in versions:
        for s in SERVICES:
            rows.append(ls_row('%s/%s' % (REG, s), v, image_id(s, v)))
    rows.extend(extra.get('more', []))
    return '\n'.join(rows) + '\n'


class Docker(object):
    """A stub runner: answers image ls / ps / inspect from fixed text and records image rm calls."""

    def __init__(self, images, ps='', inspect='', refuse=(), gone=()):
        self.images, self.ps, self.inspect = images, ps, inspect
        self.refuse, self.gone = dict(refuse), set(gone)
        self.calls = []

    def __call__(self, args):
        self.calls.append(list(args))
        if args[:3] == ['docker', 'image', 'ls']:
            return 0, self.images, ''
        if args[:2] == ['docker', 'ps']:
            return 0, self.ps, ''
        if args[:3] == ['docker', 'container', 'inspect']:
            return 0, self.inspect, ''
        if args[:3] == ['docker', 'image', 'rm']:
            target = args[3]
            if target in self.refuse:
                return 1, '', self.refuse[target]
            if target in self.gone:
                return 1, '', 'Error response from daemon: No such image: %s' % target
            return 0, 'Untagged: %s\nDeleted: %s\n' % (target, self.id_of(target)), ''
        raise AssertionError('unexpected docker call %r' % (args,))

    def id_of(self, target):
        for row in ir.parse_image_ls(self.images):
            if target in (row['ref'], row['id']):
                return row['id']
        return 'sha256:unknown'

    @property
    def removed(self):
        return [c[3] for c in self.calls if c[:3] == ['docker', 'image', 'rm']]


# ---------------------------------------------------------------- references and sizes


@pytest.mark.parametrize('ref,expected', [
    ('registry:5000/divan/backend:1.1.0', ('registry:5000/divan/backend', '1.1.0', '')),
    ('registry:5000/divan/backend', ('registry:5000/divan/backend', '', '')),
    ('registry:5000/divan/backend@sha256:abc', ('registry:5000/divan/backend', '', 'sha256:abc')),
    ('registry:5000/divan/backend:1.1.0@sha256:abc', ('registry:5000/divan/backend', '1.1.0', 'sha256:abc')),
    ('nginx:1.27', ('nginx', '1.27', '')),
    ('localhost:5000/x', ('localhost:5000/x', '', '')),
])
def test_split_ref(ref, expected):
    assert ir.split_ref(ref) == expected


def test_normalize_repository_drops_docker_hub_prefixes():
    assert ir.normalize_repository('docker.io/library/redis') == 'redis'
    assert ir.normalize_repository('docker.io/divan/backend') == 'divan/backend'
    assert ir.normalize_repository('registry:5000/divan/backend') == 'registry:5000/divan/backend'


@pytest.mark.parametrize('text,expected', [
    ('464MB', 464000000), ('1.2kB', 1200), ('12B', 12), ('1.5GB', 1500000000), ('2MiB', 2097152),
    ('N/A', 0), ('', 0), (None, 0),
])
def test_parse_size(text, expected):
    assert ir.parse_size(text) == expected


# ---------------------------------------------------------------- the release log


def test_failure_lines_ignored_and_corrupt_lines_warned():
    text = '\n'.join([line(identity('1.0.0')), failed_line(), '{not json', '', '[1, 2]',
                      json.dumps({'identity': {'version': '1.0.5', 'images': {}}}),
                      line(identity('1.1.0'), action='converge')])
    releases, warnings = ir.parse_releases_log(text)
    assert [r['version'] for r in releases] == ['1.0.0', '1.1.0']
    assert releases[1]['action'] == 'converge' and releases[1]['line'] == 7
    assert len(warnings) == 3
    assert 'line 3 is not JSON' in warnings[0]
    assert 'line 5 is not a JSON object' in warnings[1]
    assert 'line 6 has an identity without images' in warnings[2]


def test_current_release_must_name_images():
    assert ir.parse_current_release(current('1.2.0'))['version'] == '1.2.0'
    with pytest.raises(ValueError, match='not JSON'):
        ir.parse_current_release('{')
    with pytest.raises(ValueError, match='no identity.images'):
        ir.parse_current_release(json.dumps({'action': 'deploy'}))


def test_select_kept_distinct_newest_first_current_included():
    releases = ir.parse_releases_log(log('1.0.0', '1.1.0', '1.2.0', '1.1.0', '1.3.0'))[0]
    cur = ir.parse_current_release(current('1.3.0'))
    assert [r['version'] for r in ir.select_kept(releases, cur, 3)] == ['1.3.0', '1.1.0', '1.2.0']
    assert [r['version'] for r in ir.select_kept(releases, cur, 1)] == ['1.3.0']
    assert [r['version'] for r in ir.select_kept(releases, cur, 10)] == ['1.3.0', '1.1.0', '1.2.0', '1.0.0']
    with pytest.raises(ValueError):
        ir.select_kept(releases, cur, 0)


def test_select_kept_after_a_rollback_keeps_the_current_first():
    # rolled back from 1.2.0 to 1.1.0: the current record is 1.1.0 even if the log's last line were 1.2.0
    releases = ir.parse_releases_log(log('1.0.0', '1.1.0', '1.2.0'))[0]
    cur = ir.parse_current_release(current('1.1.0'))
    assert [r['version'] for r in ir.select_kept(releases, cur, 2)] == ['1.1.0', '1.2.0']


# ---------------------------------------------------------------- the plan


def plan(log_text, cur_version, keep, images, refs=(), ids=()):
    releases = ir.parse_releases_log(log_text)[0]
    return ir.plan_removal(releases, ir.parse_current_release(current(cur_version)), keep,
                           ir.parse_image_ls(images), refs, ids)


def test_keep_two_of_four_removes_the_two_oldest_releases():
    result = plan(log('1.0.0', '1.1.0', '1.2.0', '1.3.0'), '1.3.0', 2,
                  inventory('1.0.0', '1.1.0', '1.2.0', '1.3.0', more=[ls_row('redis', '7', sha(1))]))
    assert sorted(r['ref'] for r in result['remove']) == sorted(
        '%s/%s:%s' % (REG, s, v) for s in SERVICES for v in ('1.0.0', '1.1.0'))
    assert result['kept_releases'] == ['1.3.0', '1.2.0']
    assert '%s/backend:1.3.0' % REG in result['kept'] and '%s/frontend:1.2.0' % REG in result['kept']
    assert result['freed_bytes'] == 6 * 10 * 1000 ** 2
    assert not any(r['ref'].startswith('redis') for r in result['remove'])


def test_keep_one_keeps_only_the_current_release():
    result = plan(log('1.0.0', '1.1.0'), '1.1.0', 1, inventory('1.0.0', '1.1.0'))
    assert sorted(r['ref'] for r in result['remove']) == sorted('%s/%s:1.0.0' % (REG, s) for s in SERVICES)
    assert result['kept_releases'] == ['1.1.0']


def test_nothing_to_remove_when_all_releases_are_kept():
    result = plan(log('1.0.0', '1.1.0'), '1.1.0', 3, inventory('1.0.0', '1.1.0'))
    assert result['remove'] == [] and result['freed_bytes'] == 0


def test_other_tags_of_a_release_repository_go_unrelated_repositories_stay():
    extra = [ls_row('%s/backend' % REG, '0.9.0-hotfix', sha(2)),       # never recorded, same repository
             ls_row('registry:5000/other/backend', '1.0.0', sha(3)),  # other repository
             ls_row('<none>', '<none>', sha(4))]                      # dangling, never recorded
    result = plan(log('1.0.0', '1.1.0'), '1.1.0', 2, inventory('1.0.0', '1.1.0', more=extra))
    assert [r['ref'] for r in result['remove']] == ['%s/backend:0.9.0-hotfix' % REG]


def test_containers_protect_their_images_by_ref_and_by_id():
    result = plan(log('1.0.0', '1.1.0', '1.2.0'), '1.2.0', 1, inventory('1.0.0', '1.1.0', '1.2.0'),
                  refs=['%s/backend:1.0.0' % REG], ids=[image_id('frontend', '1.1.0')])
    removed = set(r['ref'] for r in result['remove'])
    assert '%s/backend:1.0.0' % REG not in removed and '%s/frontend:1.1.0' % REG not in removed
    assert '%s/frontend:1.0.0' % REG in removed and '%s/backend:1.1.0' % REG in removed
    assert sorted(result['in_use']) == ['%s/backend:1.0.0' % REG, '%s/frontend:1.1.0' % REG]


def test_container_created_by_short_id_protects_the_image():
    short = image_id('backend', '1.0.0')[len('sha256:'):][:12]
    result = plan(log('1.0.0', '1.1.0'), '1.1.0', 1, inventory('1.0.0', '1.1.0'), refs=[short])
    assert '%s/backend:1.0.0' % REG not in set(r['ref'] for r in result['remove'])


def test_an_id_shared_with_a_kept_release_keeps_every_tag_of_it():
    # 1.1.0's backend is the very image of 1.0.0's, re-tagged: untagging frees nothing, both stay
    rows = inventory('1.0.0', '1.1.0').replace(image_id('backend', '1.1.0'), image_id('backend', '1.0.0'))
    result = plan(log('1.0.0', '1.1.0'), '1.1.0', 1, rows)
    assert '%s/backend:1.0.0' % REG not in set(r['ref'] for r in result['remove'])


def test_digest_references_are_kept_and_removed_by_digest():
    d_old, d_new = 'sha256:' + 'a' * 64, 'sha256:' + 'b' * 64
    log_text = '\n'.join([line(identity('1.0.0', digest_backend=d_old)), line(identity('1.1.0', digest_backend=d_new))])
    rows = [ls_row('%s/backend' % REG, '<none>', image_id('backend', '1.0.0'), digest=d_old),
            ls_row('%s/backend' % REG, '<none>', image_id('backend', '1.1.0'), digest=d_new),
            ls_row('%s/frontend' % REG, '1.0.0', image_id('frontend', '1.0.0')),
            ls_row('%s/frontend' % REG, '1.1.0', image_id('frontend', '1.1.0'))]
    releases = ir.parse_releases_log(log_text)[0]
    cur = ir.release_from_identity(identity('1.1.0', digest_backend=d_new))
    result = ir.plan_removal(releases, cur, 1, ir.parse_image_ls('\n'.join(rows)))
    assert sorted(r['ref'] for r in result['remove']) == ['%s/backend@%s' % (REG, d_old), '%s/frontend:1.0.0' % REG]
    assert '%s/backend@%s' % (REG, d_new) in result['kept']


def test_a_kept_tag_whose_row_also_carries_a_digest_is_kept():
    digest = 'sha256:' + 'c' * 64
    rows = inventory('1.0.0').replace('"Digest": "<none>"', '"Digest": "%s"' % digest, 1)
    result = plan(log('1.0.0', '1.1.0'), '1.0.0', 1, rows)
    assert result['remove'] == []


def test_dangling_images_a_release_recorded_are_removed_by_id():
    old_backend = image_id('backend', '1.0.0')
    rows = inventory('1.1.0', more=[ls_row('<none>', '<none>', old_backend, size='5MB'),
                                    ls_row('<none>', '<none>', sha(5))])
    result = plan(log('1.0.0', '1.1.0'), '1.1.0', 1, rows)
    assert [r['ref'] for r in result['remove']] == [old_backend]
    assert result['freed_bytes'] == 5 * 1000 ** 2


def test_freed_counts_an_image_only_when_all_its_references_go():
    rows = inventory('1.0.0', '1.1.0', more=[ls_row('mine/keep', 'x', image_id('backend', '1.0.0'))])
    result = plan(log('1.0.0', '1.1.0'), '1.1.0', 1, rows)
    assert '%s/backend:1.0.0' % REG in set(r['ref'] for r in result['remove'])
    assert result['freed_bytes'] == 2 * 10 * 1000 ** 2  # frontend and activities-core only


# ---------------------------------------------------------------- the run


def test_retain_removes_and_reports():
    docker = Docker(inventory('1.0.0', '1.1.0', '1.2.0'))
    result = ir.retain(docker, log('1.0.0', '1.1.0', '1.2.0'), current('1.2.0'), 2)
    assert result['changed'] is True
    assert sorted(docker.removed) == sorted('%s/%s:1.0.0' % (REG, s) for s in SERVICES)
    assert sorted(result['removed']) == sorted(docker.removed)
    assert result['freed_bytes'] == 3 * 10 * 1000 ** 2
    assert result['kept_releases'] == ['1.2.0', '1.1.0']
    assert result['msg'].startswith('removed 3 image reference(s) (30.0 MB)')


def test_retain_check_mode_changes_nothing():
    docker = Docker(inventory('1.0.0', '1.1.0'))
    result = ir.retain(docker, log('1.0.0', '1.1.0'), current('1.1.0'), 1, check_mode=True)
    assert docker.removed == []
    assert result['changed'] is True and len(result['removed']) == 3
    assert result['msg'].startswith('would remove 3')


def test_retain_refused_image_is_skipped_not_failed():
    refused = '%s/backend:1.0.0' % REG
    reason = ('Error response from daemon: conflict: unable to remove repository reference "%s" (must force) - '
              'container 0123 is using its referenced image' % refused)
    docker = Docker(inventory('1.0.0', '1.1.0'), refuse={refused: reason})
    result = ir.retain(docker, log('1.0.0', '1.1.0'), current('1.1.0'), 1)
    assert result['skipped'] == [{'ref': refused, 'reason': reason}]
    assert refused not in result['removed'] and len(result['removed']) == 2
    assert 'refused by docker' in result['msg']


def test_retain_reference_already_gone_is_not_a_change():
    gone = '%s/backend:1.0.0' % REG
    rows = inventory('1.1.0', more=[ls_row('%s/backend' % REG, '1.0.0', image_id('backend', '1.0.0'))])
    docker = Docker(rows, gone=[gone])
    result = ir.retain(docker, log('1.0.0', '1.1.0'), current('1.1.0'), 1)
    assert result['changed'] is False and result['removed'] == [gone] and result['skipped'] == []


def test_retain_reads_containers_and_their_image_ids():
    used = image_id('backend', '1.0.0')
    docker = Docker(inventory('1.0.0', '1.1.0'), ps='abc123\tsha256:deadbeef\n', inspect=used + '\n')
    result = ir.retain(docker, log('1.0.0', '1.1.0'), current('1.1.0'), 1)
    assert ['docker', 'container', 'inspect', '--format', '{{.Image}}', 'abc123'] in docker.calls
    assert '%s/backend:1.0.0' % REG not in docker.removed
    assert result['in_use'] == ['%s/backend:1.0.0' % REG]


def test_retain_without_releases_does_not_call_docker():
    docker = Docker('')
    result = ir.retain(docker, failed_line() + '\n', None, 3)
    assert result['changed'] is False and docker.calls == []
    result = ir.retain(docker, None, None, 3)
    assert 'nothing to remove' in result['msg']


def test_retain_refuses_without_a_current_release_or_with_keep_zero():
    with pytest.raises(ValueError, match='current release record is missing'):
        ir.retain(Docker(''), log('1.0.0'), None, 3)
    with pytest.raises(ValueError, match='keep must be 1 or more'):
        ir.retain(Docker(''), log('1.0.0'), current('1.0.0'), 0)


def test_retain_corrupt_lines_come_back_as_warnings():
    text = log('1.0.0') + '{"identity": \n' + log('1.1.0')
    result = ir.retain(Docker(inventory('1.0.0', '1.1.0')), text, current('1.1.0'), 1)
    assert len(result['warnings']) == 1 and 'line 2' in result['warnings'][0]


def test_docker_failures_raise_with_the_reason():
    def broken(args):
        return 1, '', 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock'
    with pytest.raises(ir.DockerError, match='docker image ls failed .*Cannot connect'):
        ir.retain(broken, log('1.0.0'), current('1.0.0'), 1)


def test_keep_images_are_kept_whatever_the_records_say():
    # --check before 1.2.0 is recorded: its images are on the host, the current record is still 1.1.0
    result = plan(log('1.0.0', '1.1.0'), '1.1.0', 1, inventory('1.0.0', '1.1.0', '1.2.0'))
    assert '%s/backend:1.2.0' % REG in set(r['ref'] for r in result['remove'])
    releases = ir.parse_releases_log(log('1.0.0', '1.1.0'))[0]
    wanted = ['%s/%s:1.2.0' % (REG, s) for s in SERVICES]
    result = ir.plan_removal(releases, ir.parse_current_release(current('1.1.0')), 1,
                             ir.parse_image_ls(inventory('1.0.0', '1.1.0', '1.2.0')), keep_images=wanted)
    assert sorted(r['ref'] for r in result['remove']) == sorted('%s/%s:1.0.0' % (REG, s) for s in SERVICES)
    assert set(wanted) <= set(result['kept'])
