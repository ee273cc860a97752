# -*- coding: utf-8 -*-
"""divan.platform.image_retention and the app role's disk check against this machine's Docker daemon.

Tiny throwaway images (``FROM scratch`` and one small file) under the test's
own repository names (divan-retention-test-<worker>/..., divan-retention-test-<worker>-other/...)
stand for four releases; a releases.log and a current-release.json like the
app role's name them. The role's tasks/images-retention.yml runs through
ansible-playbook on localhost (included by path, the role's variables
given as extra vars), and what is left on the daemon is checked.
Nothing outside the test's repository names is touched; every test image and
container is removed at the end. Skipped when docker is not usable.
"""

import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from integration_helpers import BIN, ROOT, ansible_env

# Per pytest-xdist worker: the tests of this file may run at the same time on two workers against one daemon, and
# each must see only its own images and container (the retention removes by repository name and image ID).
PREFIX = 'divan-retention-test-' + os.environ.get('PYTEST_XDIST_WORKER', 'main')
OTHER = PREFIX + '-other/keep:1'
CONTAINER = PREFIX + '-stopped'
SERVICES = ('backend', 'frontend')
# The task files themselves (include_tasks), with the variables the role's defaults would give passed as
# extra vars: the test does not depend on the rest of the role.
TASKS = os.path.join(ROOT, 'roles', 'app', 'tasks')
CURRENT_IMAGES = {'backend': PREFIX + '/backend:1.3.0', 'frontend': PREFIX + '/frontend:1.3.0'}
VERSIONS = ('1.0.0', '1.1.0', '1.2.0', '1.3.0')

RETENTION_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the role's image retention tasks
      ansible.builtin.include_tasks: "{{ divan_tasks }}/images-retention.yml"
    - name: Keep the module's result for the test
      ansible.builtin.copy:
        content: "{{ app_image_retention | to_json }}"
        dest: "{{ divan_test_out }}"
        mode: "0600"
      check_mode: false
"""

DISK_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the role's disk check
      ansible.builtin.include_tasks: "{{ divan_tasks }}/disk-check.yml"
"""


def docker(*args, check=True):
    proc = subprocess.run(['docker'] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=120, check=False)
    if check and proc.returncode != 0:
        raise AssertionError('docker %s failed: %s' % (' '.join(args), proc.stderr))
    return proc


def docker_ok():
    return bool(shutil.which('docker')) and docker('info', check=False).returncode == 0


def build(tmp_path, ref, content):
    ctx = pathlib.Path(tempfile.mkdtemp(prefix='ctx-', dir=str(tmp_path)))
    (ctx / 'Dockerfile').write_text('FROM scratch\nCOPY f /f\n')
    # The prefix makes the images of two workers different images (one ID would be shared between their tags).
    (ctx / 'f').write_text('%s %s' % (PREFIX, content))
    docker('build', '-q', '-t', ref, str(ctx))
    return image_id(ref)


def image_id(ref):
    return docker('image', 'inspect', '--format', '{{.Id}}', ref).stdout.strip()


def present(ref):
    return docker('image', 'inspect', ref, check=False).returncode == 0


def ref(service, version):
    return '%s/%s:%s' % (PREFIX, service, version)


def cleanup(ids=()):
    docker('rm', '-f', CONTAINER, check=False)
    listed = docker('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}',
                    '--filter', 'reference=%s/*' % PREFIX, '--filter', 'reference=%s-other/*' % PREFIX,
                    check=False).stdout.split()
    for name in listed:
        docker('image', 'rm', name, check=False)
    for iid in ids:
        docker('image', 'rm', iid, check=False)


@pytest.fixture
def releases(tmp_path):
    """Four releases' images (backend:1.1.0 rebuilt since: its recorded image is untagged), the records, a stopped
    container of backend:1.0.0, an unrelated image and a never-recorded tag of a release repository."""
    if not docker_ok():
        pytest.skip('docker is not usable here')
    cleanup()
    built = []
    try:
        lines = []
        for n, version in enumerate(VERSIONS):
            images = dict((s, ref(s, version)) for s in SERVICES)
            ids = dict((s, build(tmp_path, ref(s, version), '%s %s' % (s, version))) for s in SERVICES)
            built.extend(ids.values())
            ident = {'version': version, 'images': images, 'image_ids': ids, 'backend_command': ['true']}
            lines.append(json.dumps({'identity': ident, 'action': 'deploy', 'deployed_at': '2026-12-0%dT10:00:00Z' % (n + 1),
                                     'previous': {}}, sort_keys=True))
            if version == '1.1.0':
                lines.append(json.dumps({'action': 'deploy-failed', 'version': '1.1.1', 'error': 'compose up failed'}))
                lines.append('{"identity": {"version": "1.1.2", "images"')  # a torn line
        dangling = dict(json.loads(lines[1])['identity']['image_ids'])['backend']
        built.append(build(tmp_path, ref('backend', '1.1.0'), 'backend 1.1.0 rebuilt'))  # the old one is dangling now
        built.append(build(tmp_path, ref('backend', '0.9.0'), 'never recorded'))
        built.append(build(tmp_path, OTHER, 'unrelated'))
        docker('create', '--name', CONTAINER, ref('backend', '1.0.0'), '/f')

        app_root = tmp_path / 'app'
        app_root.mkdir()
        (app_root / 'releases.log').write_text('\n'.join(lines) + '\n')
        current = json.loads(lines[-1])
        (app_root / 'current-release.json').write_text(json.dumps(current, indent=2) + '\n')
    except Exception:
        cleanup(built)
        raise
    yield {'app_root': str(app_root), 'dangling': dangling, 'tmp': tmp_path}
    cleanup(built)


def playbook(tmp_path, play, extra_vars, check=False, name='play.yml'):
    book = tmp_path / name
    book.write_text(play)
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', str(book),
           '-e', json.dumps(dict(extra_vars, divan_tasks=TASKS))]
    if check:
        cmd.append('--check')
    proc = subprocess.run(cmd, env=ansible_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout


def retention(rel, check=False, keep=2):
    out = rel['tmp'] / 'result.json'
    if out.exists():
        out.unlink()
    rc, output = playbook(rel['tmp'], RETENTION_PLAY, {'app_root': rel['app_root'], 'app_version': '1.3.0',
                                                       'app_images_effective': CURRENT_IMAGES,
                                                       'app_image_retention_keep': keep,
                                                       'divan_test_out': str(out)}, check=check)
    assert rc == 0, output[-4000:]
    return json.loads(out.read_text()), output


def test_keep_two_of_four_releases(releases):
    # check mode first: it reports, and removes nothing
    before = set(ref(s, v) for s in SERVICES for v in VERSIONS) | {ref('backend', '0.9.0'), OTHER}
    result, output = retention(releases, check=True)
    assert result['changed'] is True
    assert all(present(r) for r in before) and present(releases['dangling'])
    assert 'Image retention: would remove' in output
    planned = set(result['removed'])

    result, output = retention(releases)
    assert result['changed'] is True
    assert set(result['removed']) == planned
    assert result['kept_releases'] == ['1.3.0', '1.2.0']
    # the two newest releases stay, the current one included
    for version in ('1.2.0', '1.3.0'):
        for service in SERVICES:
            assert present(ref(service, version)), ref(service, version)
    # the two oldest go: by tag, and the untagged image 1.1.0 recorded by its ID
    for gone in (ref('frontend', '1.0.0'), ref('frontend', '1.1.0'), ref('backend', '1.1.0'), ref('backend', '0.9.0')):
        assert not present(gone), gone
        assert gone in result['removed']
    assert not present(releases['dangling']) and releases['dangling'] in result['removed']
    # a stopped container's image and an image of another repository are untouched
    assert present(ref('backend', '1.0.0')) and result['in_use'] == [ref('backend', '1.0.0')]
    assert present(OTHER)
    assert result['freed_bytes'] > 0 and result['skipped'] == []
    assert any('releases log line 4 is not JSON' in line for line in output.splitlines()), output[-3000:]
    assert 'Image retention: removed %d image(s)' % len(result['removed']) in output

    # nothing left to do
    result, _output = retention(releases)
    assert result['changed'] is False and result['removed'] == []


def test_keep_zero_skips_the_module(releases):
    out = releases['tmp'] / 'result.json'
    rc, output = playbook(releases['tmp'], RETENTION_PLAY.replace('app_image_retention | to_json',
                                                                  'app_image_retention.skipped | default(false) | to_json'),
                          {'app_root': releases['app_root'], 'app_version': '1.3.0',
                           'app_image_retention_keep': 0, 'divan_test_out': str(out)})
    assert rc == 0, output[-4000:]
    assert json.loads(out.read_text()) is True
    assert present(ref('frontend', '1.0.0'))


def test_module_refuses_without_the_current_release(releases):
    os.unlink(os.path.join(releases['app_root'], 'current-release.json'))
    out = releases['tmp'] / 'result.json'
    rc, output = playbook(releases['tmp'], RETENTION_PLAY, {'app_root': releases['app_root'], 'app_version': '1.3.0',
                                                            'app_images_effective': CURRENT_IMAGES,
                                                            'app_image_retention_keep': 2, 'divan_test_out': str(out)})
    assert rc != 0 and 'current release record is missing' in output
    assert present(ref('frontend', '1.0.0'))


def test_disk_check_fails_with_the_numbers(tmp_path):
    if not docker_ok():
        pytest.skip('docker is not usable here')
    root = docker('info', '--format', '{{.DockerRootDir}}').stdout.strip()
    rc, output = playbook(tmp_path, DISK_PLAY, {'app_version': '1.0.0', 'app_pull_min_free_mb': 10 ** 9,
                                                'app_image_retention_keep': 3})
    assert rc != 0, output[-3000:]
    flat = ' '.join(output.split())
    assert 'GiB free on %s (Docker\'s data root) on host localhost' % root in flat, flat[-3000:]
    assert 'the pull needs at least 976562.5 GiB (app_pull_min_free_mb=1000000000)' in flat
    assert 'app_image_retention_keep=3' in flat and 'Nothing was changed.' in flat


@pytest.mark.parametrize('check', [False, True])
def test_disk_check_passes_with_enough_space(tmp_path, check):
    if not docker_ok():
        pytest.skip('docker is not usable here')
    rc, output = playbook(tmp_path, DISK_PLAY, {'app_version': '1.0.0', 'app_pull_min_free_mb': 1}, check=check)
    assert rc == 0, output[-3000:]
    assert 'changed=0' in output and 'failed=0' in output
