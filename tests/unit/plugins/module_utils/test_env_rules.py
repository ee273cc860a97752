# -*- coding: utf-8 -*-
"""Every env_rules rule, good and bad."""

import json
import os
import secrets
import stat

import pytest

from ansible_collections.divan.platform.plugins.module_utils import env_rules as er

HEX = 'f3a9c1d07be24e6a8c5d9b1e0a7f3c2d4b6e8a0c1d3f5e7a9b1c3d5e7f9a1b3c'  # 64 hex chars


def rules_for(findings, key=None):
    return sorted(f['rule'] for f in findings if key is None or f['key'] == key)


def good_env(**overrides):
    env = {
        'ENVIRONMENT': 'production', 'DOMAIN': 'example.org', 'PUBLIC_APP_URL': 'https://example.org',
        'UPLOAD_BASE_URL': 'https://cdn.example.org/uploads',
        'SECRET_KEY': secrets.token_hex(32), 'SERVICE_SIGNING_KEY': secrets.token_hex(32),
        'REFRESH_PEPPER': secrets.token_hex(32), 'OBS_ADMIN_TOKEN': secrets.token_hex(32),
        'POSTGRES_DB': 'divan', 'POSTGRES_USER': 'divan', 'POSTGRES_PASSWORD': secrets.token_hex(32),
        'REDIS_PASSWORD': secrets.token_hex(32), 'INTENT_SIGNING_REQUIRED': 'true', 'COOKIE_SECURE': 'true',
        'COOKIE_DOMAIN': '.example.org', 'CORS_ALLOW_ORIGINS': 'https://example.org',
        'SMTP_HOST': 'smtp.postmarkapp.com', 'SMTP_PORT': '587', 'SMTP_USER': 'u', 'SMTP_PASSWORD':
            secrets.token_urlsafe(40), 'SMTP_FROM_EMAIL': 'no-reply@example.org', 'SMTP_TLS': 'true',
        'S3_BUCKET_NAME': 'b', 'S3_REGION': 'auto', 'S3_ACCESS_KEY': 'AKIA1234', 'S3_SECRET_KEY':
            secrets.token_hex(32),
    }
    env.update(overrides)
    return dict((k, v) for k, v in env.items() if v is not None)


def test_good_env_has_no_findings():
    assert er.check_env(good_env()) == []


# ---------------------------------------------------------------- entropy estimator


def test_charset_sizes():
    assert er.charset_size('deadbeef') == 16
    assert er.charset_size('DEADBEEF') == 16
    assert er.charset_size('DEADbeef') == 52  # mixed case is not one-case hex
    assert er.charset_size('abcxyz') == 26
    assert er.charset_size('abcXYZ09') == 62
    assert er.charset_size('a-b') == 26 + 33
    assert er.charset_size('é') == 100
    assert er.charset_size('') == 0


def test_openssl_rand_hex_32_passes_and_scores_above_200_bits():
    for _unused in range(50):
        value = secrets.token_hex(32)
        assert er.estimate_entropy_bits(value) > 200
        assert er.check_secret('SECRET_KEY', value) == []


def test_estimator_is_min_of_charset_and_shannon():
    # 'ab' * 16: charset 32*log2(26)=150.4, Shannon 32*1=32 -> 32
    assert er.estimate_entropy_bits('ab' * 16) == 32.0
    # all different lowercase letters (26): Shannon log2(26) per char == charset, so both equal
    assert er.estimate_entropy_bits('abcdefghijklmnopqrstuvwxyz') == pytest.approx(26 * 4.7004, abs=0.1)
    assert er.estimate_entropy_bits('aaaa') == 0.0
    assert er.estimate_entropy_bits('') == 0.0


def test_short_hex_is_low_entropy_and_too_short():
    value = secrets.token_hex(8)  # 16 chars
    assert rules_for(er.check_secret('SECRET_KEY', value)) == ['secret_low_entropy', 'secret_too_short']


def test_long_but_low_variety_value_is_low_entropy():
    value = ('0123' * 10) + '5'  # 41 chars, Shannon ~2 bits/char (~84 bits), not a pure repetition
    assert rules_for(er.check_secret('SECRET_KEY', value)) == ['secret_low_entropy']


def test_per_key_thresholds():
    value = secrets.token_urlsafe(18)  # 24 chars, ~110 bits
    assert 'secret_too_short' in rules_for(er.check_secret('SMTP_PASSWORD', value))
    assert er.check_secret('SMTP_PASSWORD', value, min_length=20, min_entropy_bits=80) == []
    env = good_env(SMTP_PASSWORD=value)
    assert rules_for(er.check_env(env), 'SMTP_PASSWORD') == ['secret_low_entropy', 'secret_too_short']
    assert er.check_env(env, key_rules={'SMTP_PASSWORD': {'min_length': 20, 'min_entropy_bits': 80}}) == []
    assert rules_for(er.check_env(good_env(), min_length=80), 'SECRET_KEY') == ['secret_too_short']
    assert rules_for(er.check_env(good_env(), min_entropy_bits=300), 'SECRET_KEY') == ['secret_low_entropy']


# ---------------------------------------------------------------- placeholders


@pytest.mark.parametrize('value', [
    'CHANGE_ME', 'CHANGE_ME_USE_STRONG_PASSWORD', 'CHANGE_ME_GENERATE_WITH_OPENSSL', 'change_me_please_abcdef',
    'changeme', 'ChangeMe123', 'example-secret-value', 'placeholder', 'secret', 'Password1', 'password!!!',
    'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '<your secret key here>',
    'abcabcabcabcabcabcabcabcabcabcabcabc', 'your_secret_key_goes_here_0123456789',
])
def test_placeholders_are_refused(value):
    findings = er.check_secret('SECRET_KEY', value)
    assert 'secret_placeholder' in rules_for(findings)
    assert findings[0]['message'].startswith('SECRET_KEY: looks like a placeholder')
    assert 'openssl rand -hex 32' in findings[0]['message']


def test_real_secrets_are_not_placeholders():
    for value in (HEX, secrets.token_urlsafe(40), 'Xk9#mP2$vL8@nQ4&wR6*tY1!zB3^cD5%'):
        assert er.placeholder_reason(value) is None, value


def test_extra_placeholders():
    value = 'ACME-DEFAULT-' + HEX
    assert er.placeholder_reason(value) is None
    assert er.placeholder_reason(value, ['acme-default']) == 'matches a placeholder listed for this inventory'
    env = good_env(SECRET_KEY=value)
    assert rules_for(er.check_env(env, extra_placeholders=['ACME-DEFAULT']), 'SECRET_KEY') == ['secret_placeholder']


# ---------------------------------------------------------------- presence, distinctness


def test_missing_and_empty_secrets():
    env = good_env(SECRET_KEY=None, REFRESH_PEPPER='  ')
    findings = er.check_env(env)
    assert rules_for(findings, 'SECRET_KEY') == ['secret_missing']
    assert rules_for(findings, 'REFRESH_PEPPER') == ['secret_empty']


def test_feature_secrets_required_only_with_their_feature():
    env = good_env(SMTP_USER=None, SMTP_PASSWORD=None)
    assert rules_for(er.check_env(env), 'SMTP_PASSWORD') == []
    env = good_env(SMTP_PASSWORD=None)  # SMTP_USER set
    assert rules_for(er.check_env(env), 'SMTP_PASSWORD') == ['secret_missing']
    env = good_env(S3_SECRET_KEY=None, S3_BUCKET_NAME=None, S3_REGION=None, S3_ACCESS_KEY=None)
    assert er.check_env(env, uploads_to_s3=False) == []
    assert rules_for(er.check_env(env), 'S3_SECRET_KEY') == ['s3_incomplete']


def test_extra_secret_keys_are_required_and_checked():
    assert rules_for(er.check_env(good_env(), secret_keys=['SLACK_WEBHOOK_SECRET']), 'SLACK_WEBHOOK_SECRET') == \
        ['secret_missing']
    env = good_env(SLACK_WEBHOOK_SECRET='secret')
    assert rules_for(er.check_env(env, secret_keys=['SLACK_WEBHOOK_SECRET']), 'SLACK_WEBHOOK_SECRET') == \
        ['secret_placeholder', 'secret_too_short']


def test_secrets_must_be_pairwise_distinct():
    env = good_env()
    env['REDIS_PASSWORD'] = env['POSTGRES_PASSWORD']
    env['OBS_ADMIN_TOKEN'] = env['SECRET_KEY']
    findings = [f for f in er.check_env(env) if f['rule'] == 'secret_reused']
    assert sorted(f['key'] for f in findings) == ['OBS_ADMIN_TOKEN', 'REDIS_PASSWORD']
    assert 'same value as SECRET_KEY' in [f for f in findings if f['key'] == 'OBS_ADMIN_TOKEN'][0]['message']


def test_required_keys():
    assert rules_for(er.check_env(good_env(POSTGRES_DB=None)), 'POSTGRES_DB') == ['required_missing']
    assert rules_for(er.check_env(good_env(), required_keys=['SLACK_WEBHOOK_URL']), 'SLACK_WEBHOOK_URL') == \
        ['required_missing']


def test_whitespace_around_secret_is_a_warning():
    findings = er.check_secret('SECRET_KEY', HEX + ' ')
    assert [(f['rule'], f['severity']) for f in findings] == [('secret_whitespace', 'warning')]


# ---------------------------------------------------------------- production flags


@pytest.mark.parametrize('value', ['true', 'True', 'TRUE', '1', 'yes', 'on', True])
def test_truthy_flags(value):
    env = good_env(COOKIE_SECURE=value, INTENT_SIGNING_REQUIRED=value)
    assert er.check_env(env) == []


@pytest.mark.parametrize('value', ['false', '0', 'no', '', 'maybe', None, False])
def test_falsy_flags(value):
    findings = er.check_env(good_env(COOKIE_SECURE=value, INTENT_SIGNING_REQUIRED=value))
    assert rules_for(findings, 'COOKIE_SECURE') == ['flag_not_true']
    assert rules_for(findings, 'INTENT_SIGNING_REQUIRED') == ['flag_not_true']


def test_environment_must_be_production():
    findings = er.check_env(good_env(ENVIRONMENT='development'))
    assert rules_for(findings, 'ENVIRONMENT') == ['environment_not_production']
    # a staging inventory: no production rules unless ENVIRONMENT=production
    assert er.check_env(good_env(ENVIRONMENT='staging', COOKIE_SECURE='false'), expect_production=False) == []
    assert rules_for(er.check_env(good_env(COOKIE_SECURE='false'), expect_production=False), 'COOKIE_SECURE') == \
        ['flag_not_true']


@pytest.mark.parametrize('value,ok', [
    ('.example.org', True), ('example.org', True), ('EXAMPLE.org', True), ('.other.org', False),
    ('app.example.org', False), ('', False), (None, False),
])
def test_cookie_domain(value, ok):
    rules = rules_for(er.check_env(good_env(COOKIE_DOMAIN=value)), 'COOKIE_DOMAIN')
    assert (rules == []) is ok, rules


def test_domain_override():
    env = good_env(COOKIE_DOMAIN='.divan.app', CORS_ALLOW_ORIGINS='https://divan.app',
                   PUBLIC_APP_URL='https://divan.app', UPLOAD_BASE_URL=None)
    assert rules_for(er.check_env(env), 'COOKIE_DOMAIN') == ['cookie_domain_mismatch']
    assert er.check_env(env, domain='divan.app') == []


@pytest.mark.parametrize('value,rules', [
    ('https://example.org', []),
    ('https://example.org, https://app.example.org:8443', []),
    ('*', ['cors_wildcard']),
    ('https://*.example.org', ['cors_wildcard']),
    ('http://example.org', ['cors_not_https']),
    ('https://example.org,http://localhost:3000', ['cors_not_https']),
    ('https://localhost', ['cors_localhost']),
    ('https://127.0.0.1:3000', ['cors_localhost']),
    ('https://evil-example.org', ['cors_off_domain']),
    ('https://example.org.evil.com', ['cors_off_domain']),
    ('https://example.org/', ['cors_not_origin']),
    ('https://example.org,', ['cors_empty_entry']),
    ('', ['cors_missing']),
])
def test_cors(value, rules):
    assert rules_for(er.check_env(good_env(CORS_ALLOW_ORIGINS=value)), 'CORS_ALLOW_ORIGINS') == rules


@pytest.mark.parametrize('host,port,rules', [
    ('smtp.postmarkapp.com', '587', []),
    ('localhost', '587', ['smtp_dev_catchall']),
    ('127.0.0.1', '25', ['smtp_dev_catchall']),
    ('mailhog', '1025', ['smtp_dev_catchall']),
    ('smtp.example.org', '1025', ['smtp_dev_catchall']),
    (None, '587', ['smtp_missing']),
])
def test_smtp_not_dev_catchall(host, port, rules):
    assert rules_for(er.check_env(good_env(SMTP_HOST=host, SMTP_PORT=port)), 'SMTP_HOST') == rules


def test_smtp_port_from_and_tls():
    findings = er.check_env(good_env(SMTP_PORT='smtp', SMTP_FROM_EMAIL=None, SMTP_TLS='false'))
    assert rules_for(findings, 'SMTP_PORT') == ['smtp_port_invalid']
    assert rules_for(findings, 'SMTP_FROM_EMAIL') == ['smtp_from_missing']
    tls = [f for f in findings if f['key'] == 'SMTP_TLS']
    assert [(f['rule'], f['severity']) for f in tls] == [('smtp_tls_off', 'warning')]
    assert [f for f in er.check_env(good_env(SMTP_PORT='465', SMTP_TLS='false')) if f['key'] == 'SMTP_TLS'] == []


def test_s3_settings_complete():
    findings = er.check_env(good_env(S3_REGION=None, S3_ACCESS_KEY=''))
    assert sorted(f['key'] for f in findings) == ['S3_ACCESS_KEY', 'S3_REGION']
    assert set(rules_for(findings)) == {'s3_incomplete'}
    assert er.check_env(good_env(S3_REGION=None, S3_ACCESS_KEY=''), uploads_to_s3=False) == []


@pytest.mark.parametrize('dsn,ok', [
    ('https://0123456789abcdef0123456789abcdef@o123.ingest.sentry.io/4506', True),
    ('https://key@sentry.example.org/sentry/42', True),
    ('http://key@o1.ingest.sentry.io/42', False),
    ('https://o1.ingest.sentry.io/42', False),
    ('https://key@o1.ingest.sentry.io/', False),
    ('https://key@o1.ingest.sentry.io/project', False),
    ('https://key@/42', False),
    ('not a dsn', False),
])
def test_sentry_dsn(dsn, ok):
    findings = er.check_env(good_env(SENTRY_DSN=dsn))
    assert (rules_for(findings, 'SENTRY_DSN') == []) is ok
    assert dsn not in json.dumps(findings)


@pytest.mark.parametrize('dsn,ok', [
    ('https://0123456789abcdef0123456789abcdef@o123.ingest.sentry.io/4506', True),
    ('https://key@o1.ingest.sentry.io/project', False),
    ('http://key@o1.ingest.sentry.io/42', False),
])
def test_frontend_sentry_dsn_build_argument(dsn, ok):
    findings = er.check_env(good_env(NEXT_PUBLIC_SENTRY_DSN=dsn))
    assert rules_for(findings, 'NEXT_PUBLIC_SENTRY_DSN') == ([] if ok else ['sentry_dsn_invalid'])
    assert rules_for(findings, 'SENTRY_DSN') == []
    assert all(f['message'].startswith('NEXT_PUBLIC_SENTRY_DSN: ') for f in findings
               if f['key'] == 'NEXT_PUBLIC_SENTRY_DSN')
    assert dsn not in json.dumps(findings)


@pytest.mark.parametrize('value,ok', [('5', True), ('1', True), ('0', False), ('-2', False), ('four', False),
                                      ('2.5', False), ('', True)])
def test_backend_workers(value, ok):
    assert (rules_for(er.check_env(good_env(BACKEND_WORKERS=value)), 'BACKEND_WORKERS') == []) is ok


@pytest.mark.parametrize('url,rules', [
    ('https://example.org', []), ('https://app.example.org/', []), ('http://example.org', ['url_not_https']),
    ('https://example.com', ['url_off_domain']), (None, ['url_missing']),
])
def test_public_app_url(url, rules):
    assert rules_for(er.check_env(good_env(PUBLIC_APP_URL=url)), 'PUBLIC_APP_URL') == rules


def test_upload_base_url_optional_but_https():
    assert rules_for(er.check_env(good_env(UPLOAD_BASE_URL=None)), 'UPLOAD_BASE_URL') == []
    assert rules_for(er.check_env(good_env(UPLOAD_BASE_URL='http://example.org/u')), 'UPLOAD_BASE_URL') == \
        ['url_not_https']


def test_metrics_public_and_dev_switches():
    findings = er.check_env(good_env(OBS_METRICS_PUBLIC='true', DEBUG='1'))
    assert rules_for(findings, 'OBS_METRICS_PUBLIC') == ['metrics_public']
    assert rules_for(findings, 'DEBUG') == ['dev_flag_on']
    assert er.check_env(good_env(OBS_METRICS_PUBLIC='false', DEBUG='false')) == []


def test_domain_must_be_public():
    findings = er.check_env(good_env(DOMAIN='localhost', COOKIE_DOMAIN='localhost', PUBLIC_APP_URL='https://localhost',
                                     CORS_ALLOW_ORIGINS='https://localhost', UPLOAD_BASE_URL=None))
    assert rules_for(findings, 'DOMAIN') == ['domain_invalid']


# ---------------------------------------------------------------- values never in findings


def test_no_value_ever_appears_in_findings():
    env = good_env(SECRET_KEY='CHANGE_ME_hunter2hunter2', SERVICE_SIGNING_KEY='short1', REFRESH_PEPPER='aaaaaaaa',
                   POSTGRES_PASSWORD='Pa55word-Pa55word-Pa55word-Pa55word', COOKIE_DOMAIN='.wrong-domain.test',
                   CORS_ALLOW_ORIGINS='https://cors-origin.test/path', SENTRY_DSN='https://leakykey@/x',
                   BACKEND_WORKERS='many-workers', SMTP_HOST='mailhog.internal.test')
    env['REDIS_PASSWORD'] = env['OBS_ADMIN_TOKEN']
    text = json.dumps(er.check_env(env))
    for key, value in env.items():
        if key in ('ENVIRONMENT', 'DOMAIN', 'POSTGRES_DB', 'POSTGRES_USER', 'SMTP_PORT', 'SMTP_TLS',
                   'INTENT_SIGNING_REQUIRED', 'COOKIE_SECURE', 'S3_REGION', 'S3_BUCKET_NAME', 'SMTP_USER'):
            continue
        assert str(value) not in text, key


# ---------------------------------------------------------------- env file parsing and permissions


def test_parse_env_text():
    text = '\n'.join([
        '# comment', '', 'A=1', 'export B="two words"', "C='single # not comment'", 'D=value # comment',
        'E=', 'F="esc\\"aped"', 'A=again',
    ])
    env, dups = er.parse_env_text(text)
    assert env == {'A': 'again', 'B': 'two words', 'C': 'single # not comment', 'D': 'value', 'E': '',
                   'F': 'esc"aped'}
    assert dups == ['A']


@pytest.mark.parametrize('line', ['NOEQUALS', '1BAD=x', 'A="unterminated', 'A="x" trailing'])
def test_parse_errors_name_the_line_not_the_value(line):
    with pytest.raises(er.EnvParseError) as exc:
        er.parse_env_text('OK=1\n' + line)
    assert str(exc.value).startswith('line 2:')
    assert 'unterminated' not in str(exc.value) or 'quoted' in str(exc.value)


def test_normalize_env():
    assert er.normalize_env({'A': True, 'B': False, 'C': 5, 'D': None}) == {
        'A': 'true', 'B': 'false', 'C': '5', 'D': ''}


def test_file_mode_and_owner(tmp_path):
    path = tmp_path / 'env'
    path.write_text('A=1\n')
    uid = os.getuid()
    for mode, ok in ((0o600, True), (0o400, True), (0o640, False), (0o644, False), (0o700, False)):
        os.chmod(str(path), mode)
        findings = er.check_file_stat(os.stat(str(path)), owner_name='me', owner_uid=uid, path='env')
        assert (findings == []) is ok, oct(mode)
    os.chmod(str(path), 0o600)
    findings = er.check_file_stat(os.stat(str(path)), owner_name='someone', owner_uid=uid + 1, path='env')
    assert rules_for(findings) == ['file_owner']
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600
