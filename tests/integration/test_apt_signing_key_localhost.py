# -*- coding: utf-8 -*-
"""divan.platform.apt_signing_key through ``ansible localhost -m`` (real ansible, real files).

Two keys are made with gpg in a temporary GNUPGHOME; one is served by an
http.server on a 127.0.0.1 ephemeral port that counts its requests, and
also given as a file:// URL. Checked: the first run downloads and writes,
the second downloads nothing (the source can be gone), a wrong pin is
refused with dest untouched, and check mode neither downloads nor writes.
Skipped when gpg is not installed.
"""

import grp
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integration_helpers import run_module  # tests/integration/integration_helpers.py

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def _gpg(home, *args):
    return subprocess.run(['gpg', '--homedir', home, '--batch', '--no-tty', '--pinentry-mode', 'loopback',
                           '--passphrase', ''] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=True, timeout=120).stdout


@pytest.fixture(scope='module')
def keys():
    if not shutil.which('gpg'):
        pytest.skip('gpg is not installed (apt-get install gnupg)')
    home = tempfile.mkdtemp(prefix='gpg-', dir='/tmp')
    # The agent and the folder go before the tests run, not after them: under `ansible-test
    # units` each test left a gpg-agent behind, each holding inotify instances of the 128 a
    # user may have, until systemd in new test containers could get none.
    try:
        made = {}
        for name in ('vendor', 'attacker'):
            uid = '%s <%s@divan.test>' % (name, name)
            _gpg(home, '--quick-generate-key', uid, 'ed25519', 'sign', 'never')
            out = _gpg(home, '--with-colons', '--fingerprint', '--list-keys', uid).decode()
            fpr = [line.split(':')[9] for line in out.splitlines() if line.startswith('fpr:')][0]
            made[name] = {'fpr': fpr, 'armored': _gpg(home, '--armor', '--export', fpr),
                          'binary': _gpg(home, '--export', fpr)}
    finally:
        subprocess.run(['gpgconf', '--homedir', home, '--kill', 'gpg-agent'], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)
    yield made


@pytest.fixture()
def key_server(keys):
    """Serves /vendor.asc, /attacker.asc, /vendor.gpg; ``hits`` lists the paths requested."""
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hits.append(self.path)
            name, _dot, ext = self.path.lstrip('/').partition('.')
            if name not in keys or ext not in ('asc', 'gpg'):
                self.send_error(404)
                return
            body = keys[name]['armored' if ext == 'asc' else 'binary']
            self.send_response(200)
            self.send_header('Content-Type', 'application/pgp-keys')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {'url': 'http://127.0.0.1:%d' % server.server_address[1], 'hits': hits}
    server.shutdown()
    server.server_close()


def args(url, dest, fpr, **extra):
    result = {'url': url, 'dest': str(dest), 'fingerprint': fpr, 'owner': OWNER, 'group': GROUP}
    result.update(extra)
    return result


def spaced_lower(fpr):
    return ' '.join(fpr[i:i + 4] for i in range(0, 40, 4)).lower()


def test_fetch_once_then_never_again(keys, key_server, tmp_path):
    dest = tmp_path / 'keyrings' / 'vendor.asc'
    dest.parent.mkdir()
    url = key_server['url'] + '/vendor.asc'
    rc, res, out = run_module('apt_signing_key', args(url, dest, spaced_lower(keys['vendor']['fpr'])))
    assert rc == 0, out
    assert res['changed'] and res['fetched'] and res['fingerprint'] == keys['vendor']['fpr']
    assert res['dest'] == str(dest) and res['msg'].startswith('wrote %s with the key' % dest)
    assert dest.read_bytes() == keys['vendor']['armored']
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert key_server['hits'] == ['/vendor.asc']

    # second run: already there, nothing downloaded even though the URL now answers 404
    rc, res, out = run_module('apt_signing_key', args(key_server['url'] + '/gone.asc', dest, keys['vendor']['fpr']))
    assert rc == 0, out
    assert not res['changed'] and not res['fetched'] and res['fingerprint'] == keys['vendor']['fpr']
    assert key_server['hits'] == ['/vendor.asc']

    # a mode drift is repaired without a download
    dest.chmod(0o600)
    rc, res, out = run_module('apt_signing_key', args(url, dest, keys['vendor']['fpr']))
    assert rc == 0 and res['changed'] and not res['fetched'], out
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert key_server['hits'] == ['/vendor.asc']


def test_file_url_and_a_removed_source(keys, tmp_path):
    source = tmp_path / 'vendor.gpg'
    source.write_bytes(keys['vendor']['binary'])
    dest = tmp_path / 'vendor.asc'
    rc, res, out = run_module('apt_signing_key', args('file://%s' % source, dest, keys['vendor']['fpr'].lower(),
                                                      mode='0640'))
    assert rc == 0 and res['changed'] and res['fetched'], out
    # binary source, .asc dest: written armored, apt reads it either way
    assert dest.read_bytes().startswith(b'-----BEGIN PGP PUBLIC KEY BLOCK-----')
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    source.unlink()
    rc, res, out = run_module('apt_signing_key', args('file://%s' % source, dest, keys['vendor']['fpr'], mode='0640'))
    assert rc == 0 and not res['changed'] and not res['fetched'], out


def test_wrong_fingerprint_is_refused_and_dest_untouched(keys, key_server, tmp_path):
    dest = tmp_path / 'vendor.asc'
    # nothing there yet: nothing written
    rc, res, out = run_module('apt_signing_key', args(key_server['url'] + '/attacker.asc', dest,
                                                      keys['vendor']['fpr']))
    assert rc != 0 and res['failed'] and res['fetched'], out
    assert 'fingerprint mismatch: expected %s, got %s' % (
        spaced(keys['vendor']['fpr']), spaced(keys['attacker']['fpr'])) in res['msg']
    assert res['expected'] == keys['vendor']['fpr'] and res['got'] == [keys['attacker']['fpr']]
    assert not dest.exists()
    assert not os.listdir(str(tmp_path))  # no temporary file left behind

    # an old key in place: replaced only by a key with the pinned fingerprint
    dest.write_bytes(keys['vendor']['armored'])
    before = dest.read_bytes()
    rc, res, out = run_module('apt_signing_key', args(key_server['url'] + '/attacker.asc', dest,
                                                      keys['attacker']['fpr'][:-1] + 'X'))
    assert rc != 0 and '40 hexadecimal digits' in res['msg'] and not res['fetched'], out
    rc, res, out = run_module('apt_signing_key', args(key_server['url'] + '/vendor.asc', dest,
                                                      keys['attacker']['fpr']))
    assert rc != 0 and 'fingerprint mismatch' in res['msg'] and 'left unchanged' in res['msg'], out
    assert dest.read_bytes() == before


def test_check_mode_neither_downloads_nor_writes(keys, key_server, tmp_path):
    dest = tmp_path / 'vendor.asc'
    url = key_server['url'] + '/vendor.asc'
    rc, res, out = run_module('apt_signing_key', args(url, dest, keys['vendor']['fpr']), check=True)
    assert rc == 0 and res['changed'] and not res['fetched'], out
    assert 'nothing downloaded or written in check mode' in res['msg'] and 'missing' in res['msg']
    assert not dest.exists() and key_server['hits'] == []

    dest.write_bytes(keys['attacker']['armored'])
    rc, res, out = run_module('apt_signing_key', args(url, dest, keys['vendor']['fpr']), check=True)
    assert rc == 0 and res['changed'] and not res['fetched'], out
    assert 'another key' in res['msg']
    assert dest.read_bytes() == keys['attacker']['armored'] and key_server['hits'] == []

    dest.write_bytes(keys['vendor']['armored'])
    dest.chmod(0o644)
    rc, res, out = run_module('apt_signing_key', args(url, dest, keys['vendor']['fpr']), check=True)
    assert rc == 0 and not res['changed'] and res['fingerprint'] == keys['vendor']['fpr'], out
    assert key_server['hits'] == []


def test_http_error_and_garbage(keys, key_server, tmp_path):
    dest = tmp_path / 'vendor.asc'
    rc, res, out = run_module('apt_signing_key', args(key_server['url'] + '/nope.asc', dest, keys['vendor']['fpr']))
    assert rc != 0 and 'cannot download the key from' in res['msg'] and 'HTTP 404' in res['msg'], out
    garbage = tmp_path / 'page.html'
    garbage.write_text('<!DOCTYPE html><html>Sign in</html>')
    rc, res, out = run_module('apt_signing_key', args('file://%s' % garbage, dest, keys['vendor']['fpr']))
    assert rc != 0 and 'HTML page' in res['msg'] and not dest.exists(), out


def spaced(fpr):
    return ' '.join(fpr[i:i + 4] for i in range(0, 40, 4))
