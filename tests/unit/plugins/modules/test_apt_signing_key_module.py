# -*- coding: utf-8 -*-
"""divan.platform.apt_signing_key in-process: downloads only when needed, through fetch_url, and refuses a wrong key.

fetch_url is replaced by a stub that serves a gpg-made key and counts its
calls. Skipped when gpg is not installed.
"""

import grp
import json
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.divan.platform.plugins.modules import apt_signing_key

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


@pytest.fixture(scope='module')
def key():
    if not shutil.which('gpg'):
        pytest.skip('gpg is not installed (apt-get install gnupg)')
    home = tempfile.mkdtemp(prefix='gpg-', dir='/tmp')

    def gpg(*args):
        return subprocess.run(['gpg', '--homedir', home, '--batch', '--no-tty', '--pinentry-mode', 'loopback',
                               '--passphrase', ''] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              check=True, timeout=120).stdout

    # The agent and the folder go before the tests run, not after them: under `ansible-test
    # units` each test left a gpg-agent behind, each holding inotify instances of the 128 a
    # user may have, until systemd in new test containers could get none.
    try:
        gpg('--quick-generate-key', 'vendor <vendor@divan.test>', 'ed25519', 'sign', 'never')
        out = gpg('--with-colons', '--fingerprint', '--list-keys').decode()
        fpr = [line.split(':')[9] for line in out.splitlines() if line.startswith('fpr:')][0]
        made = {'fpr': fpr, 'armored': gpg('--armor', '--export', fpr)}
    finally:
        subprocess.run(['gpgconf', '--homedir', home, '--kill', 'gpg-agent'], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)
    yield made


class FakeResponse(object):
    def __init__(self, body):
        self.body = body

    def read(self, size=-1):
        return self.body

    def close(self):
        pass


@pytest.fixture()
def server(monkeypatch, key):
    calls = []

    def fake_fetch_url(module, url, **kwargs):
        calls.append({'url': url, 'validate_certs': module.params['validate_certs'], 'ca_path': kwargs.get('ca_path'),
                      'timeout': kwargs.get('timeout')})
        if url.endswith('/missing'):
            return None, {'status': 404, 'msg': 'HTTP Error 404: Not Found'}
        return FakeResponse(key['armored']), {'status': 200, 'msg': 'OK'}

    monkeypatch.setattr(apt_signing_key, 'fetch_url', fake_fetch_url)
    return calls


def run(args, capsys, check=False):
    args = dict(args, owner=OWNER, group=GROUP)
    if check:
        args['_ansible_check_mode'] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            apt_signing_key.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out[out.index('{'):])


def test_downloads_once_with_the_tls_options(key, server, tmp_path, capsys):
    dest = tmp_path / 'docker.asc'
    args = {'url': 'https://keys.example.org/docker.asc', 'dest': str(dest), 'fingerprint': key['fpr'].lower(),
            'ca_path': '/etc/ssl/certs/ca.pem', 'validate_certs': False, 'timeout': 7}
    rc, result = run(args, capsys)
    assert rc == 0 and result['changed'] and result['fetched'] and result['fingerprint'] == key['fpr']
    assert server == [{'url': 'https://keys.example.org/docker.asc', 'validate_certs': False,
                       'ca_path': '/etc/ssl/certs/ca.pem', 'timeout': 7}]
    assert dest.read_bytes() == key['armored']
    rc, result = run(args, capsys)
    assert rc == 0 and not result['changed'] and not result['fetched'] and len(server) == 1


def test_check_mode_does_not_download(key, server, tmp_path, capsys):
    dest = tmp_path / 'docker.asc'
    rc, result = run({'url': 'https://keys.example.org/docker.asc', 'dest': str(dest), 'fingerprint': key['fpr']},
                     capsys, check=True)
    assert rc == 0 and result['changed'] and not result['fetched'] and server == []
    assert 'check mode' in result['msg'] and not dest.exists()


def test_mismatch_and_http_errors(key, server, tmp_path, capsys):
    dest = tmp_path / 'docker.asc'
    wrong = '0' * 40
    rc, result = run({'url': 'https://keys.example.org/docker.asc', 'dest': str(dest), 'fingerprint': wrong}, capsys)
    assert rc == 1 and result['failed'] and result['fetched'] and not dest.exists()
    assert 'expected 0000 0000' in result['msg'] and result['got'] == [key['fpr']]
    rc, result = run({'url': 'https://keys.example.org/missing', 'dest': str(dest), 'fingerprint': key['fpr']},
                     capsys)
    assert rc == 1 and 'HTTP 404' in result['msg']
    rc, result = run({'url': 'ftp://keys.example.org/k', 'dest': str(dest), 'fingerprint': key['fpr']}, capsys)
    assert rc == 1 and 'only https://, http:// and file://' in result['msg']
    rc, result = run({'url': 'https://keys.example.org/k', 'dest': str(tmp_path), 'fingerprint': key['fpr']}, capsys)
    assert rc == 1 and 'is a directory' in result['msg']
