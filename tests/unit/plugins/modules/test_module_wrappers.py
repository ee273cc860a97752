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
    probe = {'url': 'https://example.org/metrics', 'headers': {'X-Admin-Token': token, 'Accept': 'text/plain'}}
    rc, result, out = run_main(http_check, {'probes': [probe]}, capsys)
    assert rc == 1 and token not in out
    assert result['invocation']['module_args']['probes'][0]['headers'] == {'X-Admin-Token': '********',
                                                                           'Accept': '********'}
    assert result['msg'].startswith('1 of 1 probe(s) failed: https://example.org/metrics: body said ')


def test_http_check_requires_jmespath_for_json(capsys, monkeypatch):
    from ansible_collections.divan.platform.plugins.module_utils import http_probe

    monkeypatch.setattr(http_probe, 'HAS_JMESPATH', False)
    rc, result, _out = run_main(http_check, {'probes': [{'url': 'https://example.org', 'json': {'a': 1}}]}, capsys)
    assert rc == 1 and 'jmespath' in result['msg']


def test_http_check_check_mode_sends_no_writing_request(capsys, monkeypatch):
    from ansible_collections.divan.platform.plugins.module_utils import http_probe

    ran = []
    monkeypatch.setattr(http_probe, 'run_probe', lambda p: ran.append(p['name']) or {
        'name': p['name'], 'url': p['url'], 'passed': True, 'failures': [], 'latency_ms': 1})
    probes = [{'name': 'put', 'url': 'https://example.org/uploads/verify/a.txt', 'method': 'put', 'body': 'x'},
              {'name': 'create', 'url': 'https://example.org/activities/session/a', 'method': 'POST'},
              {'name': 'get', 'url': 'https://example.org/uploads/verify/a.txt'},
              {'name': 'head', 'url': 'https://example.org/', 'method': 'HEAD'},
              {'name': 'ws', 'url': 'wss://example.org/activities/session/a/stream', 'websocket': True,
               'expect_close': 1008},
              {'name': 'sio', 'url': 'https://example.org', 'socketio': True, 'polls': 5}]
    rc, result, _out = run_main(http_check, {'probes': probes, '_ansible_check_mode': True}, capsys)
    assert rc == 0 and ran == ['get', 'head', 'ws', 'sio']
    assert [p['name'] for p in result['probes'] if p.get('skipped')] == ['put', 'create']
    # the aliases reach the probe under their option names
    args = result['invocation']['module_args']['probes']
    assert args[4]['ws_expect_close'] == 1008 and args[5]['socketio_polls'] == 5 and args[2]['socketio_polls'] == 20
    ran[:] = []
    rc, result, _out = run_main(http_check, {'probes': probes[:2]}, capsys)
    assert rc == 0 and ran == ['put', 'create'] and not any(p.get('skipped') for p in result['probes'])


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


def test_host_info_reads_once_each_and_never_changes(capsys, monkeypatch):
    from ansible.module_utils.basic import AnsibleModule

    from ansible_collections.divan.platform.plugins.modules import host_info

    calls = []

    def fake_run_command(self, args, **kwargs):
        calls.append(args)
        if args[0] == 'dpkg-query':
            assert 'docker-ce=5:27.1.1-1' not in args  # a pinned version is never looked up
            return 1, 'docker.io\tii \t26.1.5\n', 'dpkg-query: no packages found matching nope\n'
        return 0, ('Id=docker.service\nLoadState=loaded\nActiveState=inactive\nUnitFileState=enabled\n\n'
                   'Id=redis-server.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n'), ''

    monkeypatch.setattr(AnsibleModule, 'run_command', fake_run_command)
    redis = {'name': 'redis-server', 'enabled': True, 'state': 'started'}
    rc, result, _out = run_main(host_info, {
        'packages': ['docker.io', 'nope', 'docker-ce=5:27.1.1-1'],
        'services': [{'name': 'docker', 'enabled': True, 'state': 'started'}, redis],
        '_ansible_check_mode': True}, capsys)
    assert rc == 0 and result['changed'] is False
    assert [c[0] for c in calls] == ['dpkg-query', 'systemctl']
    assert result['installed'] == ['docker.io'] and result['versions'] == {'docker.io': '26.1.5'}
    assert result['services_confirmed'] == [redis]
    assert result['services_reasons'] == {'docker': ['not active (inactive)']}


def test_host_info_confirms_the_entry_after_type_conversion(capsys, monkeypatch):
    from ansible.module_utils.basic import AnsibleModule

    from ansible_collections.divan.platform.plugins.modules import host_info

    monkeypatch.setattr(AnsibleModule, 'run_command', lambda self, args, **kw: (
        0, 'Id=caddy.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n', ''))
    rc, result, _out = run_main(host_info, {'services': [{'name': 'caddy', 'enabled': 'yes'}]}, capsys)
    # "yes" is not the value a task would compare with: only the converted entry is confirmed.
    assert rc == 0 and result['services_confirmed'] == [{'name': 'caddy', 'enabled': True}]


def test_host_info_runs_no_command_when_asked_nothing(capsys, monkeypatch):
    from ansible.module_utils.basic import AnsibleModule

    from ansible_collections.divan.platform.plugins.modules import host_info

    monkeypatch.setattr(AnsibleModule, 'run_command', lambda self, args, **kw: pytest.fail('ran %s' % args))
    rc, result, _out = run_main(host_info, {'packages': ['pg*']}, capsys)
    assert rc == 0 and result['installed'] == [] and result['services_confirmed'] == []


@pytest.mark.parametrize('args,reply,msg', [
    ({'packages': ['caddy']}, (2, '', 'database locked'), 'dpkg-query failed (rc 2): database locked'),
    ({'services': [{'name': 'caddy'}]}, (1, '', 'no bus'), 'systemctl show failed (rc 1): no bus'),
    ({'services': [{'name': 'caddy'}]}, (0, '', ''), 'systemctl show returned 0 unit(s) for 1 asked'),
])
def test_host_info_fails_on_a_broken_read(capsys, monkeypatch, args, reply, msg):
    from ansible.module_utils.basic import AnsibleModule

    from ansible_collections.divan.platform.plugins.modules import host_info

    monkeypatch.setattr(AnsibleModule, 'run_command', lambda self, a, **kw: reply)
    rc, result, _out = run_main(host_info, args, capsys)
    assert rc == 1 and result['msg'] == msg
