# -*- coding: utf-8 -*-
"""OpenPGP key parsing and fingerprints of apt_signing_key, checked against gpg itself.

The keys are made at test time with ``gpg --batch --quick-generate-key`` in a
temporary GNUPGHOME (an ed25519 key with a cv25519 subkey, and an RSA key),
and the fingerprints this code computes are compared with gpg's
``--with-colons`` ``fpr`` records. Skipped when gpg is not installed.
"""

import base64
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.divan.platform.plugins.module_utils import apt_signing_key as ask


def _gpg(home, *args, **kwargs):
    return subprocess.run(['gpg', '--homedir', home, '--batch', '--no-tty', '--pinentry-mode', 'loopback',
                           '--passphrase', ''] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=True, timeout=120, **kwargs).stdout


def _fingerprints(home, uid):
    """gpg's (primary, [subkeys]) fingerprints of uid, from the fpr records of --with-colons."""
    out = _gpg(home, '--with-colons', '--fingerprint', '--fingerprint', '--list-keys', uid).decode()
    kinds, fprs = [], []
    for line in out.splitlines():
        fields = line.split(':')
        if fields[0] in ('pub', 'sub'):
            kinds.append(fields[0])
        elif fields[0] == 'fpr':
            fprs.append(fields[9])
    return fprs[0], [f for k, f in zip(kinds, fprs) if k == 'sub']


@pytest.fixture(scope='module')
def keys():
    if not shutil.which('gpg'):
        pytest.skip('gpg is not installed (apt-get install gnupg)')
    home = tempfile.mkdtemp(prefix='gpg-', dir='/tmp')  # short: gpg-agent's socket path has a length limit
    # The agent and the folder go before the tests run, not after them: under `ansible-test
    # units` each test left a gpg-agent behind, each holding inotify instances of the 128 a
    # user may have, until systemd in new test containers could get none.
    try:
        made = {}
        for name, algo in (('ed', 'ed25519'), ('rsa', 'rsa2048')):
            uid = 'Divan %s test <%s@divan.test>' % (name, name)
            _gpg(home, '--quick-generate-key', uid, algo, 'sign', 'never')
            primary, _subs = _fingerprints(home, uid)
            if name == 'ed':
                _gpg(home, '--quick-add-key', primary, 'cv25519', 'encr', 'never')
            primary, subs = _fingerprints(home, uid)
            made[name] = {'fpr': primary, 'subkeys': subs,
                          'armored': _gpg(home, '--armor', '--export', primary),
                          'binary': _gpg(home, '--export', primary),
                          'secret': _gpg(home, '--export-secret-keys', primary)}
        made['both'] = _gpg(home, '--armor', '--export', made['ed']['fpr'], made['rsa']['fpr'])
    finally:
        subprocess.run(['gpgconf', '--homedir', home, '--kill', 'gpg-agent'], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)
    yield made


@pytest.mark.parametrize('name', ['ed', 'rsa'])
@pytest.mark.parametrize('form', ['armored', 'binary'])
def test_fingerprints_match_gpg(keys, name, form):
    parsed = ask.parse_keys(keys[name][form])
    assert len(parsed) == 1
    assert parsed[0]['fingerprint'] == keys[name]['fpr']
    assert parsed[0]['version'] == 4
    assert parsed[0]['subkeys'] == keys[name]['subkeys']
    assert parsed[0]['user_ids'] == ['Divan %s test <%s@divan.test>' % (name, name)]


def test_ed25519_key_has_its_subkey(keys):
    assert len(keys['ed']['subkeys']) == 1


def test_armored_text_and_crlf(keys):
    text = keys['ed']['armored'].decode('ascii')
    assert ask.primary_fingerprints(text) == [keys['ed']['fpr']]
    assert ask.primary_fingerprints(text.replace('\n', '\r\n')) == [keys['ed']['fpr']]
    with_headers = text.replace('-----\n\n', '-----\nVersion: test\nComment: two headers\n\n', 1)
    assert 'Comment: two headers' in with_headers
    assert ask.primary_fingerprints(with_headers) == [keys['ed']['fpr']]


def test_dearmor_gives_gpg_binary_export(keys):
    assert ask.dearmor(keys['rsa']['armored']) == keys['rsa']['binary']
    assert ask.dearmor(keys['rsa']['binary']) == keys['rsa']['binary']


def test_enarmor_round_trip(keys):
    armored = ask.enarmor(keys['ed']['binary'])
    assert armored.startswith(ask.ARMOR_BEGIN + '\n\n') and armored.rstrip().endswith(ask.ARMOR_END)
    assert ask.dearmor(armored) == keys['ed']['binary']
    # gpg computes the same CRC-24: its armor checksum line is ours
    gpg_crc = [line for line in keys['ed']['armored'].decode().splitlines() if line.startswith('=')]
    if gpg_crc:  # gpg 2.4 may leave the (optional) checksum out
        assert gpg_crc[0] in armored.splitlines()


def test_corrupted_armor_is_refused(keys):
    text = keys['ed']['armored'].decode('ascii')
    lines = text.splitlines()
    body = [i for i, line in enumerate(lines) if line and not line.startswith(('-----', '='))]
    line = lines[body[2]]
    lines[body[2]] = ('B' if line[0] != 'B' else 'C') + line[1:]
    crc_lines = [line for line in lines if line.startswith('=')]
    with pytest.raises(ask.KeyFormatError, match='CRC-24|not the start|truncated|version'):
        ask.parse_keys('\n'.join(lines))
    if crc_lines:
        with pytest.raises(ask.KeyFormatError, match='CRC-24'):
            ask.parse_keys('\n'.join(lines))


def test_truncated_downloads_are_refused(keys):
    text = keys['ed']['armored'].decode('ascii')
    with pytest.raises(ask.KeyFormatError, match='END PGP PUBLIC KEY BLOCK'):
        ask.parse_keys(text[:len(text) // 2])
    with pytest.raises(ask.KeyFormatError, match='truncated'):
        ask.parse_keys(keys['ed']['binary'][:40])


@pytest.mark.parametrize('content, match', [
    (b'', 'empty'),
    (b'   \n', 'empty'),
    (b'hello, I am not a key\n', 'neither an ASCII-armored'),
    (b'<!DOCTYPE html><html><body>Not found</body></html>', 'HTML page'),
    (b'-----BEGIN PGP SIGNATURE-----\n\nabcd\n-----END PGP SIGNATURE-----\n', 'PGP SIGNATURE'),
    (b'-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n', 'base64'),
    (b'\x99\x00\x05\x03abcd', 'version 3 key'),
    (b'\xc2\x01\x04', 'does not start with a public key'),
    (b'\x80' + b'\x00' * 10, 'not the start of an OpenPGP packet'),
])
def test_garbage_is_refused(content, match):
    with pytest.raises(ask.KeyFormatError, match=match):
        ask.parse_keys(content)


def test_secret_key_is_refused(keys):
    with pytest.raises(ask.KeyFormatError, match='secret key'):
        ask.parse_keys(keys['ed']['secret'])


def test_v4_fingerprint_by_hand():
    # a v4 packet body: the fingerprint is SHA-1 of 0x99, the 2-byte length and the body
    import hashlib
    body = b'\x04\x00\x00\x00\x01\x16' + b'\x09+\x06\x01\x04\x01\xdaG\x0f\x01' + b'\x01\x07' + b'\x40' + b'\x11' * 32
    expected = hashlib.sha1(b'\x99' + len(body).to_bytes(2, 'big') + body).hexdigest().upper()
    assert ask.key_fingerprint(body) == (4, expected)
    old_format = bytes([0x99]) + len(body).to_bytes(2, 'big') + body  # old format, tag 6, 2-byte length
    new_format = bytes([0xC6, len(body)]) + body  # new format, tag 6, one-octet length
    assert ask.primary_fingerprints(old_format) == [expected] == ask.primary_fingerprints(new_format)


@pytest.mark.parametrize('value', [
    '9DC858229FC7DD38854AE2D88D81803C0EBFCD88',
    '9dc858229fc7dd38854ae2d88d81803c0ebfcd88',
    '9DC8 5822 9FC7 DD38 854A  E2D8 8D81 803C 0EBF CD88',
    ' 9dc8 5822 9fc7 dd38 854a e2d8 8d81 803c 0ebf cd88\n',
    '0x9DC858229FC7DD38854AE2D88D81803C0EBFCD88',
])
def test_normalize_fingerprint(value):
    assert ask.normalize_fingerprint(value) == '9DC858229FC7DD38854AE2D88D81803C0EBFCD88'


@pytest.mark.parametrize('value', ['', None, '0EBFCD88', '8D81803C0EBFCD88', 'Z' * 40, '9DC85822' * 6])
def test_normalize_fingerprint_refuses_key_ids_and_junk(value):
    with pytest.raises(ValueError, match='40 hexadecimal digits'):
        ask.normalize_fingerprint(value)


def test_format_fingerprint():
    assert ask.format_fingerprint('9DC858229FC7DD38854AE2D88D81803C0EBFCD88') == \
        '9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88'


# ---------------------------------------------------------------- decide


def spaced_lower(fpr):
    return ' '.join(fpr[i:i + 4] for i in range(0, 40, 4)).lower()


def test_decide_keeps_a_matching_file_without_fetching(keys):
    for form in ('armored', 'binary'):
        plan = ask.decide(keys['ed'][form], spaced_lower(keys['ed']['fpr']))
        assert plan['action'] == 'keep' and plan['fingerprint'] == keys['ed']['fpr']


def test_decide_asks_for_a_download(keys):
    assert ask.decide(None, keys['ed']['fpr']) == {'action': 'fetch', 'fingerprint': None, 'reason': 'missing',
                                                   'content': None}
    plan = ask.decide(keys['rsa']['armored'], keys['ed']['fpr'])
    assert plan['action'] == 'fetch' and plan['reason'].startswith('another key (fingerprint mismatch')
    plan = ask.decide(b'garbage', keys['ed']['fpr'])
    assert plan['action'] == 'fetch' and plan['reason'].startswith('not a key file')
    plan = ask.decide(keys['both'], keys['ed']['fpr'])
    assert plan['action'] == 'fetch' and 'holds 2 keys' in plan['reason']


def test_decide_writes_a_matching_download(keys):
    plan = ask.decide(None, keys['ed']['fpr'].lower(), fetched=keys['ed']['armored'], dest='/k/ed.asc')
    assert plan['action'] == 'write' and plan['fingerprint'] == keys['ed']['fpr']
    assert plan['content'] == keys['ed']['armored']
    assert plan['reason'] == 'missing'


def test_decide_converts_to_the_form_of_dest(keys):
    plan = ask.decide(None, keys['ed']['fpr'], fetched=keys['ed']['binary'], dest='/k/ed.asc')
    assert plan['content'].startswith(ask.ARMOR_BEGIN.encode())
    assert ask.dearmor(plan['content']) == keys['ed']['binary']
    plan = ask.decide(None, keys['ed']['fpr'], fetched=keys['ed']['armored'], dest='/k/ed.gpg')
    assert plan['content'] == keys['ed']['binary']
    plan = ask.decide(None, keys['ed']['fpr'], fetched=keys['ed']['binary'], dest='/k/ed.key')
    assert plan['content'] == keys['ed']['binary']


def test_decide_refuses_a_mismatching_download(keys):
    with pytest.raises(ask.FingerprintMismatch) as exc:
        ask.decide(None, keys['ed']['fpr'], fetched=keys['rsa']['armored'])
    msg = str(exc.value)
    assert msg.startswith('fingerprint mismatch: expected %s, got %s' % (
        ask.format_fingerprint(keys['ed']['fpr']), ask.format_fingerprint(keys['rsa']['fpr'])))
    assert exc.value.expected == keys['ed']['fpr'] and exc.value.got == [keys['rsa']['fpr']]


def test_decide_refuses_a_subkey_fingerprint(keys):
    with pytest.raises(ask.FingerprintMismatch, match='subkey of %s' % ask.format_fingerprint(keys['ed']['fpr'])):
        ask.decide(None, keys['ed']['subkeys'][0], fetched=keys['ed']['armored'])


def test_decide_refuses_extra_keys(keys):
    assert ask.primary_fingerprints(keys['both']) == [keys['ed']['fpr'], keys['rsa']['fpr']]
    with pytest.raises(ask.FingerprintMismatch, match='holds 2 keys .* apt would also trust the others'):
        ask.decide(None, keys['ed']['fpr'], fetched=keys['both'])


def test_decide_refuses_garbage_download_and_bad_pin(keys):
    with pytest.raises(ask.KeyFormatError, match='HTML page'):
        ask.decide(None, keys['ed']['fpr'], fetched=b'<html>login</html>')
    with pytest.raises(ValueError, match='40 hexadecimal digits'):
        ask.decide(keys['ed']['armored'], 'ACCC4CF8')


def test_real_world_sized_armor_is_base64_of_the_export(keys):
    # what a vendor publishes: the binary export, base64 in 64-column lines
    text = keys['rsa']['armored'].decode()
    b64 = ''.join(line for line in text.splitlines()[2:] if line and not line.startswith(('=', '-----')))
    assert base64.b64decode(b64) == keys['rsa']['binary']
