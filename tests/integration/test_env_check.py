# -*- coding: utf-8 -*-
"""env_check through ansible: a good production env passes, secrets never appear in any output."""

import getpass
import os
import secrets

from integration_helpers import run_module


def good_env():
    return {
        'ENVIRONMENT': 'production', 'DOMAIN': 'example.org', 'PUBLIC_APP_URL': 'https://example.org',
        'SECRET_KEY': secrets.token_hex(32), 'SERVICE_SIGNING_KEY': secrets.token_hex(32),
        'REFRESH_PEPPER': secrets.token_hex(32), 'OBS_ADMIN_TOKEN': secrets.token_hex(32),
        'POSTGRES_DB': 'divan', 'POSTGRES_USER': 'divan', 'POSTGRES_PASSWORD': secrets.token_hex(32),
        'REDIS_PASSWORD': secrets.token_hex(32),
        'INTENT_SIGNING_REQUIRED': 'True', 'COOKIE_SECURE': True, 'COOKIE_DOMAIN': '.example.org',
        'CORS_ALLOW_ORIGINS': 'https://example.org,https://www.example.org',
        'SMTP_HOST': 'smtp.postmarkapp.com', 'SMTP_PORT': 587, 'SMTP_USER': 'apikey',
        'SMTP_PASSWORD': secrets.token_urlsafe(40), 'SMTP_FROM_EMAIL': 'no-reply@example.org', 'SMTP_TLS': 'true',
        'S3_BUCKET_NAME': 'divan-uploads', 'S3_REGION': 'auto', 'S3_ACCESS_KEY': 'AKIA' + secrets.token_hex(8),
        'S3_SECRET_KEY': secrets.token_hex(32),
        'SENTRY_DSN': 'https://%s@o123.ingest.sentry.io/4506' % secrets.token_hex(16),
        'BACKEND_WORKERS': '5',
    }


def secret_values(env):
    return [str(v) for k, v in env.items()
            if k.endswith(('KEY', 'PASSWORD', 'PEPPER', 'TOKEN', 'DSN')) and k != 'S3_ACCESS_KEY']


def test_good_env_passes():
    env = good_env()
    rc, result, output = run_module('env_check', {'env': env}, verbosity=3)
    assert rc == 0, output
    assert result['error_count'] == 0 and result['findings'] == []
    assert 'SECRET_KEY' in result['checked_keys']
    for value in secret_values(env):
        assert value not in output


def test_bad_env_fails_without_revealing_values():
    env = good_env()
    reused = env['SECRET_KEY']
    env.update({
        'REFRESH_PEPPER': 'CHANGE_ME_GENERATE_WITH_OPENSSL',
        'OBS_ADMIN_TOKEN': reused,
        'POSTGRES_PASSWORD': 'Tr0ub4dor&3-short',
        'COOKIE_SECURE': 'false',
        'CORS_ALLOW_ORIGINS': 'https://example.org,http://localhost:3000',
        'SMTP_HOST': 'mailhog', 'SMTP_PORT': '1025',
    })
    rc, result, output = run_module('env_check', {'env': env}, verbosity=3)
    assert rc == 2, output
    rules = sorted((f['key'], f['rule']) for f in result['findings'])
    assert ('REFRESH_PEPPER', 'secret_placeholder') in rules
    assert ('OBS_ADMIN_TOKEN', 'secret_reused') in rules
    assert ('POSTGRES_PASSWORD', 'secret_too_short') in rules
    assert ('COOKIE_SECURE', 'flag_not_true') in rules
    assert ('CORS_ALLOW_ORIGINS', 'cors_not_https') in rules
    assert ('SMTP_HOST', 'smtp_dev_catchall') in rules
    assert result['msg'].startswith('env check found %d error(s): ' % result['error_count'])
    assert 'REFRESH_PEPPER: looks like a placeholder' in result['msg']
    assert 'openssl rand -hex 32' in result['msg']
    for value in secret_values(env) + ['Tr0ub4dor&3-short', 'CHANGE_ME_GENERATE_WITH_OPENSSL']:
        assert value not in output, 'a secret value leaked into the output'
    assert 'Traceback' not in output


def test_env_file_on_host(tmp_path):
    env = good_env()
    path = tmp_path / 'divan.env'
    lines = ['# Divan production env', 'export DOMAIN=example.org']
    lines += ['%s="%s"' % (k, 'true' if v is True else v) for k, v in env.items() if k != 'DOMAIN']
    path.write_text('\n'.join(lines) + '\n')
    os.chmod(str(path), 0o644)
    me = getpass.getuser()

    rc, result, output = run_module('env_check', {'path': str(path), 'owner': me})
    assert rc == 2, output
    assert [f['rule'] for f in result['findings']] == ['file_mode']
    assert 'mode 0644 is too open; run chmod 0600' in result['msg']

    os.chmod(str(path), 0o600)
    rc, result, output = run_module('env_check', {'path': str(path), 'owner': me})
    assert rc == 0, output
    rc, result, output = run_module('env_check', {'path': str(path), 'owner': 'root' if me != 'root' else 'nobody'})
    assert rc == 2 and [f['rule'] for f in result['findings']] == ['file_owner']
    for value in secret_values(env):
        assert value not in output
