# -*- coding: utf-8 -*-
"""playbooks/secrets.yml run twice against a temporary vault file."""

import os
import re
import subprocess

import yaml

from integration_helpers import BIN, ROOT, ansible_env, run_playbook

PLAYBOOK = os.path.join(ROOT, 'playbooks', 'secrets.yml')
DEFAULT_KEYS = ['vault_secret_key', 'vault_service_signing_key', 'vault_refresh_pepper', 'vault_obs_admin_token',
                'vault_postgres_password', 'vault_redis_password']


def flat(output):
    """The output with line wrapping undone (the yaml result format wraps long messages)."""
    return ' '.join(output.split())


def view(path, password_file):
    out = subprocess.run([os.path.join(BIN, 'ansible-vault'), 'view', str(path), '--vault-password-file',
                          str(password_file)], env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    return out, yaml.safe_load(out)


def test_secrets_created_once_and_kept(tmp_path):
    password_file = tmp_path / 'vault-pass'
    password_file.write_text('correct horse battery staple\n')
    vault_file = tmp_path / 'inventories' / 'production' / 'group_vars' / 'all' / 'vault.yml'
    args = [PLAYBOOK, '-e', 'secrets_file=%s' % vault_file, '--vault-password-file', str(password_file)]

    rc, first = run_playbook(args)
    assert rc == 0, first
    raw = vault_file.read_bytes()
    assert raw.startswith(b'$ANSIBLE_VAULT;1.1;AES256')
    assert oct(os.stat(str(vault_file)).st_mode & 0o777) == '0o600'
    _text, values = view(vault_file, password_file)
    assert sorted(values) == sorted(DEFAULT_KEYS)
    for key in DEFAULT_KEYS:
        assert re.match(r'^[0-9a-f]{64}$', values[key]), key
        assert values[key] not in first
    assert len(set(values.values())) == len(DEFAULT_KEYS)
    assert 'created: ' + ', '.join(DEFAULT_KEYS) + '; kept: nothing' in flat(first)

    rc, second = run_playbook(args)
    assert rc == 0, second
    _text, again = view(vault_file, password_file)
    assert again == values
    assert vault_file.read_bytes() == raw  # not even re-encrypted
    assert 'created: nothing; kept: ' + ', '.join(DEFAULT_KEYS) in flat(second) and 'changed=0' in second
    for value in values.values():
        assert value not in second


def test_existing_values_and_comments_are_kept(tmp_path):
    password_file = tmp_path / 'vault-pass'
    password_file.write_text('pw-for-this-test\n')
    vault_file = tmp_path / 'vault.yml'
    plain = ('---\n# managed by hand\nvault_postgres_password: "kept-value-from-the-dba"\n'
             'vault_smtp_password: provider-made\nvault_redis_password:\n')
    vault_file.write_text(plain)
    subprocess.run([os.path.join(BIN, 'ansible-vault'), 'encrypt', str(vault_file), '--vault-password-file',
                    str(password_file)], env=ansible_env(), check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    rc, out = run_playbook([PLAYBOOK, '-e', 'secrets_file=%s' % vault_file, '--vault-password-file',
                            str(password_file)])
    assert rc == 0, out
    text, values = view(vault_file, password_file)
    assert '# managed by hand' in text
    assert values['vault_postgres_password'] == 'kept-value-from-the-dba'
    assert values['vault_smtp_password'] == 'provider-made'
    assert re.match(r'^[0-9a-f]{64}$', values['vault_redis_password'])  # was empty: filled
    created = [k for k in DEFAULT_KEYS if k != 'vault_postgres_password']
    assert 'created: %s; kept: vault_postgres_password' % ', '.join(created) in flat(out)
    assert 'kept-value-from-the-dba' not in out


def test_wrong_password_and_plaintext_file_are_refused(tmp_path):
    good = tmp_path / 'good-pass'
    good.write_text('the-right-one\n')
    bad = tmp_path / 'bad-pass'
    bad.write_text('not-the-right-one\n')
    vault_file = tmp_path / 'vault.yml'
    rc, out = run_playbook([PLAYBOOK, '-e', 'secrets_file=%s' % vault_file, '--vault-password-file', str(good)])
    assert rc == 0, out
    before = vault_file.read_bytes()
    rc, out = run_playbook([PLAYBOOK, '-e', 'secrets_file=%s' % vault_file, '--vault-password-file', str(bad)])
    assert rc != 0 and 'cannot decrypt' in out
    assert vault_file.read_bytes() == before

    plain = tmp_path / 'plain.yml'
    plain.write_text('vault_secret_key: oops-in-clear\n')
    rc, out = run_playbook([PLAYBOOK, '-e', 'secrets_file=%s' % plain, '--vault-password-file', str(good)])
    assert rc != 0 and 'is not vault-encrypted' in out
    assert plain.read_text() == 'vault_secret_key: oops-in-clear\n'
