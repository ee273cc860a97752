# -*- coding: utf-8 -*-
"""The AnsibleModule wrappers in-process: what they return, what they mask, how they fail."""

import json
import secrets

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.divan.platform.plugins.modules import env_check, http_check, s3_check, smtp_check


def run_main(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            module.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out[out.index('{'):]), out


def test_env_check_hides_values_everywhere(capsys):
    short_secret = 'Qz7'  # too short to be masked by no_log_values: must still never appear
    env = {'ENVIRONMENT': 'production', 'SECRET_KEY': short_secret, 'REFRESH_PEPPER': secrets.token_hex(32)}
    rc, result, out = run_main(env_check, {'env': env}, capsys)
    assert rc == 1 and result['failed']
    assert result['invocation']['module_args']['env'] == {'ENVIRONMENT': '********', 'SECRET_KEY': '********',
                                                          'REFRESH_PEPPER': '********'}
    assert short_secret not in out and env['REFRESH_PEPPER'] not in out
    assert 'SECRET_KEY: 3 characters, at least 32 required' in result['msg']
    assert {'SECRET_KEY', 'REFRESH_PEPPER'} <= set(result['checked_keys'])


def test_env_check_missing_file(capsys, tmp_path):
    rc, result, _out = run_main(env_check, {'path': str(tmp_path / 'nope.env')}, capsys)
    assert rc == 1 and 'cannot be read (No such file or directory)' in result['msg']


def test_env_check_unparsable_file_names_the_line_only(capsys, tmp_path):
    path = tmp_path / '.env'
    path.write_text('SECRET_KEY="unterminated-secret-value\n')
    path.chmod(0o600)
    rc, result, out = run_main(env_check, {'path': str(path), 'owner': str(path.stat().st_uid)}, capsys)
    assert rc == 1 and 'line 1: unterminated quoted value' in result['msg']
    assert 'unterminated-secret-value' not in out


def test_http_check_masks_credential_headers(capsys, monkeypatch):
    from ansible_collections.divan.platform.plugins.module_utils import http_probe

    token = 'tok-' + secrets.token_hex(8)

    def fake_run_probe(p):
        # a server echoing the token back in an error would still not leak it
        return {'name': p['name'] or p['url'], 'url': p['url'], 'passed': False,
                'failures': ['body said %s' % token], 'latency_ms': 1}

    monkeypatch.setattr(http_probe, 'run_probe', fake_run_probe)
    rc, result, out = run_main(http_check, {'probes': [{'url': 'https://example.org/metrics',
                                                         'headers': {'X-Admin-Token': token, 'Accept': 'text/plain'}}]},
                               capsys)
    assert rc == 1 and token not in out
    assert result['invocation']['module_args']['probes'][0]['headers'] == {'X-Admin-Token': '********',
                                                                           'Accept': '********'}
    assert result['msg'].startswith('1 of 1 probe(s) failed: https://example.org/metrics: body said ')


def test_http_check_requires_jmespath_for_json(capsys, monkeypatch):
    from ansible_collections.divan.platform.plugins.module_utils import http_probe

    monkeypatch.setattr(http_probe, 'HAS_JMESPATH', False)
    rc, result, _out = run_main(http_check, {'probes': [{'url': 'https://example.org', 'json': {'a': 1}}]}, capsys)
    assert rc == 1 and 'jmespath' in result['msg']


def test_smtp_check_failure_shape(capsys, monkeypatch):
    def fake(**kwargs):
        assert kwargs['send'] is False  # check mode: nothing is sent
        return {'ok': False, 'error_kind': 'auth', 'error': 'authentication failed: 535', 'host': 'h', 'port': 587,
                'tls': 'starttls'}

    monkeypatch.setattr(smtp_check, 'check_smtp', fake)
    rc, result, out = run_main(smtp_check, {'host': 'h', 'username': 'u', 'password': 'pw-123456', 'send': True,
                                            'from': 'a@example.org', 'to': ['b@example.org'],
                                            '_ansible_check_mode': True}, capsys)
    assert rc == 1 and result['error_kind'] == 'auth'
    assert result['msg'] == 'SMTP check of h:587 failed (auth): authentication failed: 535'
    assert 'pw-123456' not in out


def test_smtp_check_needs_from_and_to_together(capsys):
    rc, result, _out = run_main(smtp_check, {'host': 'h', 'from': 'a@example.org'}, capsys)
    assert rc == 1 and 'parameters are required together' in result['msg']


def test_s3_check_without_boto3(capsys, monkeypatch):
    from ansible_collections.divan.platform.plugins.module_utils import s3_probe

    monkeypatch.setattr(s3_probe, 'HAS_BOTO3', False)
    rc, result, _out = run_main(s3_check, {'bucket': 'b'}, capsys)
    assert rc == 1 and 'boto3' in result['msg']


def test_s3_check_check_mode_does_not_write(capsys, monkeypatch):
    from ansible_collections.divan.platform.plugins.module_utils import s3_probe

    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        return {'ok': True, 'error_kind': None, 'error': None, 'bucket': 'b'}

    monkeypatch.setattr(s3_probe, 'check_s3', fake)
    rc, result, out = run_main(s3_check, {'bucket': 'b', 'access_key': 'AKIA', 'secret_key': 'sk-123456789',
                                          'check_anonymous_read': True, '_ansible_check_mode': True}, capsys)
    assert rc == 0 and seen['write'] is False and seen['check_anonymous_read'] is False
    assert 'sk-123456789' not in out


def test_env_check_warnings_do_not_fail(capsys):
    env = {
        'ENVIRONMENT': 'production', 'DOMAIN': 'example.org', 'PUBLIC_APP_URL': 'https://example.org',
        'POSTGRES_DB': 'divan', 'POSTGRES_USER': 'divan', 'INTENT_SIGNING_REQUIRED': True, 'COOKIE_SECURE': True,
        'COOKIE_DOMAIN': '.example.org', 'CORS_ALLOW_ORIGINS': 'https://example.org',
        'SMTP_HOST': 'smtp.example.net', 'SMTP_PORT': 587, 'SMTP_FROM_EMAIL': 'no-reply@example.org',
        'SMTP_TLS': False,  # a warning
    }
    for key in ('SECRET_KEY', 'SERVICE_SIGNING_KEY', 'REFRESH_PEPPER', 'OBS_ADMIN_TOKEN', 'POSTGRES_PASSWORD',
                'REDIS_PASSWORD'):
        env[key] = secrets.token_hex(32)
    rc, result, _out = run_main(env_check, {'env': env, 'uploads_to_s3': False}, capsys)
    assert rc == 0 and result['error_count'] == 0 and result['warning_count'] == 1
    assert result['findings'][0]['rule'] == 'smtp_tls_off' and result['findings'][0]['severity'] == 'warning'


def test_host_state_reads_once_each_and_never_changes(capsys, monkeypatch, tmp_path):
    from ansible.module_utils.basic import AnsibleModule

    from ansible_collections.divan.platform.plugins.modules import host_state

    calls = []

    def fake_run_command(self, args, **kwargs):
        calls.append(args)
        if args[0] == 'dpkg-query':
            assert 'docker-ce=5:27.1.1-1' not in args  # a pinned version is never looked up
            return 1, 'docker.io\tii \t26.1.5\n', 'dpkg-query: no packages found matching nope\n'
        return 0, ('Id=docker.service\nLoadState=loaded\nActiveState=inactive\nUnitFileState=enabled\n\n'
                   'Id=redis-server.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n'), ''

    monkeypatch.setattr(AnsibleModule, 'run_command', fake_run_command)
    rc, result, _out = run_main(host_state, {
        'packages': ['docker.io', 'nope', 'docker-ce=5:27.1.1-1'],
        'services': [{'name': 'docker', 'enabled': True, 'state': 'started'},
                     {'name': 'redis-server', 'enabled': True, 'state': 'started'}],
        'paths': [str(tmp_path), str(tmp_path / 'absent')],
        '_ansible_check_mode': True}, capsys)
    assert rc == 0 and result['changed'] is False
    assert result['paths_missing'] == [str(tmp_path / 'absent')]
    assert [c[0] for c in calls] == ['dpkg-query', 'systemctl']
    assert result['packages_missing'] == ['nope', 'docker-ce=5:27.1.1-1']
    assert result['services_differ'] == ['docker']


def test_host_state_fails_on_a_broken_dpkg(capsys, monkeypatch):
    from ansible.module_utils.basic import AnsibleModule

    from ansible_collections.divan.platform.plugins.modules import host_state

    monkeypatch.setattr(AnsibleModule, 'run_command', lambda self, args, **kw: (2, '', 'database locked'))
    rc, result, _out = run_main(host_state, {'packages': ['caddy']}, capsys)
    assert rc == 1 and result['msg'] == 'dpkg-query failed (rc 2): database locked'


def test_host_state_reads_files_without_running_a_command(capsys, monkeypatch, tmp_path):
    import hashlib

    from ansible.module_utils.basic import AnsibleModule

    from ansible_collections.divan.platform.plugins.modules import host_state

    monkeypatch.setattr(AnsibleModule, 'run_command', lambda self, args, **kw: pytest.fail('ran %s' % args))
    conf = tmp_path / 'daemon.json'
    conf.write_text('{}\n')
    conf.chmod(0o644)
    rc, result, _out = run_main(host_state, {'files': [
        {'path': str(conf), 'checksum': hashlib.sha1(b'{}\n').hexdigest(), 'mode': '0644'},
        {'path': str(tmp_path), 'state': 'directory', 'mode': '0700'},
        {'path': str(tmp_path / 'absent.conf'), 'checksum': hashlib.sha1(b'').hexdigest()}]}, capsys)
    assert rc == 0 and result['changed'] is False
    tmp_mode = '%04o' % (tmp_path.stat().st_mode & 0o7777)
    expected = [str(tmp_path / 'absent.conf')] if tmp_mode == '0700' else [str(tmp_path), str(tmp_path / 'absent.conf')]
    assert result['files_differ'] == expected
    assert result['files_reasons'][str(tmp_path / 'absent.conf')] == ['missing']


def test_host_state_reads_locales_with_one_command(capsys, monkeypatch):
    from ansible.module_utils.basic import AnsibleModule

    from ansible_collections.divan.platform.plugins.modules import host_state

    calls = []

    def fake_run_command(self, args, **kwargs):
        calls.append(args)
        return 0, 'C\nC.utf8\nen_US.utf8\n', ''

    monkeypatch.setattr(AnsibleModule, 'run_command', fake_run_command)
    rc, result, _out = run_main(host_state, {'locales': ['en_US.UTF-8', 'de_DE.UTF-8']}, capsys)
    assert rc == 0 and result['changed'] is False
    assert calls == [['locale', '-a']]
    assert result['locales_missing'] == ['de_DE.UTF-8']

    monkeypatch.setattr(AnsibleModule, 'run_command', lambda self, args, **kw: (1, '', 'no locale'))
    rc, result, _out = run_main(host_state, {'locales': ['en_US.UTF-8']}, capsys)
    assert rc == 1 and result['msg'] == 'locale -a failed (rc 1): no locale'


def test_host_state_reads_lines_and_returns_asked_content(capsys, tmp_path):
    from ansible_collections.divan.platform.plugins.modules import host_state

    conf = tmp_path / 'createcluster.conf'
    conf.write_text("#initdb_options = ''\ninitdb_options = '--locale=C.UTF-8'\n")
    record = tmp_path / 'current-release.json'
    record.write_text('{"version": "1.0.0"}\n')
    rc, result, _out = run_main(host_state, {
        'files': [{'path': str(record), 'get_content': True}, {'path': str(conf), 'get_checksum': True}],
        'lines': [{'path': str(conf), 'regexp': r'^#?\s*initdb_options\s*=', 'line': "initdb_options = '--locale=C.UTF-8'"},
                  {'path': str(tmp_path / 'absent.conf'), 'regexp': 'x', 'line': 'x'}]}, capsys)
    assert rc == 0 and result['changed'] is False
    assert result['files'][str(record)]['content'] == '{"version": "1.0.0"}\n'
    assert result['files'][str(conf)]['content'] is None and len(result['files'][str(conf)]['checksum']) == 40
    assert result['files_differ'] == []
    assert result['lines_differ'] == [str(tmp_path / 'absent.conf')]
    rc, result, _out = run_main(host_state, {'lines': [{'path': str(conf), 'regexp': '(', 'line': 'x'}]}, capsys)
    assert rc == 1 and result['msg'].startswith('lines: a regexp does not compile')
