# -*- coding: utf-8 -*-
"""deploy_notify without a network: wording of every event, redaction, hosts, errors that hide the webhook path."""

import json
import socket
import ssl

import pytest

from ansible_collections.divan.platform.plugins.module_utils import deploy_notify as dn

HOOK = 'https://hooks.slack.com/services/T0DIVAN01/B0DIVAN02/s3cretT0kenV4lue0000XyZ'
HOOK_SECRET_PARTS = ('/services/', 'T0DIVAN01/B0DIVAN02', 's3cretT0kenV4lue0000XyZ')


def message(event, **kwargs):
    args = dict(site='divan.example.org', version='1.1.0', previous_version='1.0.0', hosts=['app1', 'app2'],
                deployed_by='alice')
    args.update(kwargs)
    return dn.build_message(event, **args)


# ---------------------------------------------------------------- wording


@pytest.mark.parametrize('event,text', [
    ('start', ':rocket: divan.example.org: deploy of 1.1.0 started by alice (from 1.0.0) on app1, app2'),
    ('success', ':white_check_mark: divan.example.org: deploy of 1.1.0 by alice succeeded (from 1.0.0) on app1, app2 '
                'in 2m 05s'),
    ('failure', ':x: divan.example.org: deploy of 1.1.0 by alice failed (from 1.0.0) on app1, app2 after 2m 05s'),
    ('rollback', ':rewind: divan.example.org: rolled back to 1.1.0 by alice (from 1.0.0) on app1, app2 in 2m 05s'),
    ('rollback_failure', ':rotating_light: divan.example.org: rollback to 1.1.0 by alice failed (from 1.0.0) on '
                         'app1, app2 after 2m 05s'),
])
def test_every_event_has_its_wording(event, text):
    payload = message(event, duration=125.4, playbook='playbooks/deploy.yml')
    assert payload['text'] == text
    assert set(payload) == {'text', 'divan'}
    assert payload['divan'] == {
        'event': event, 'site': 'divan.example.org', 'version': '1.1.0', 'previous_version': '1.0.0',
        'hosts': ['app1', 'app2'], 'deployed_by': 'alice', 'playbook': 'playbooks/deploy.yml',
        'duration_seconds': 125.4, 'detail': None}
    json.dumps(payload)  # serialisable as is


def test_start_never_shows_a_duration_and_emojis_differ():
    assert message('start', duration=3)['text'].endswith('on app1, app2')
    emojis = set(dn.EVENTS[e][0] for e in dn.EVENT_NAMES)
    assert len(emojis) == len(dn.EVENT_NAMES) == len(dn.EVENTS)


def test_minimal_message():
    payload = dn.build_message('success', 'divan.example.org')
    assert payload['text'] == ':white_check_mark: divan.example.org: deploy succeeded'
    assert payload['divan']['hosts'] is None and payload['divan']['version'] is None
    assert dn.build_message('rollback', 'x.org')['text'] == ':rewind: x.org: rolled back'
    assert dn.build_message('failure', 'x.org', version='2.0')['text'] == ':x: x.org: deploy of 2.0 failed'


def test_same_previous_version_is_not_repeated():
    assert '(from' not in message('success', previous_version='1.1.0')['text']


def test_failure_detail_is_one_short_line():
    detail = 'at "Run the migrations":\n  psycopg.OperationalError:   connection refused\n' + 'x' * 500
    payload = message('failure', detail=detail)
    assert '\n' not in payload['text']
    assert ': at "Run the migrations": psycopg.OperationalError: connection refused xxx' in payload['text']
    assert payload['text'].endswith('...') and len(payload['text']) < 400
    assert payload['divan']['detail'].startswith('at "Run the migrations":\n')  # kept whole for receivers
    long_detail = message('failure', detail='y' * 5000)['divan']['detail']
    assert len(long_detail) == dn.MAX_DETAIL and long_detail.endswith('...')


def test_slack_control_characters_are_escaped_in_the_text():
    payload = message('failure', detail='<!channel> look & see <https://evil.example|click>')
    assert '<' not in payload['text'] and '>' not in payload['text']
    assert '&lt;!channel&gt; look &amp; see' in payload['text']
    assert payload['divan']['detail'].startswith('<!channel> look & see')


@pytest.mark.parametrize('event', ['deploy', 'START', '', None, 'rolled_back'])
def test_unknown_event_is_refused(event):
    with pytest.raises(ValueError) as exc:
        dn.build_message(event, 'divan.example.org')
    assert 'unknown deploy notification event' in str(exc.value)
    assert 'start, success, failure, rollback, rollback_failure' in str(exc.value)


def test_bad_site_and_duration_are_refused():
    with pytest.raises(ValueError, match='needs the site'):
        dn.build_message('start', '  ')
    with pytest.raises(ValueError, match='>= 0'):
        dn.build_message('success', 'x.org', duration=-1)
    with pytest.raises(ValueError, match='number of seconds'):
        dn.build_message('success', 'x.org', duration='soon')


@pytest.mark.parametrize('seconds,text', [(0, '0s'), (44.6, '45s'), (59.4, '59s'), (60, '1m 00s'), (125, '2m 05s'),
                                          (3599, '59m 59s'), (3720, '1h 02m'), (90000, '25h 00m')])
def test_format_duration(seconds, text):
    assert dn.format_duration(seconds) == text


# ---------------------------------------------------------------- hosts


@pytest.mark.parametrize('hosts,text', [
    (['app1'], 'app1'),
    (['app1', 'app2'], 'app1, app2'),
    (['app1', 'app1', ' app2 ', '', None], 'app1, app2'),
    (['app%d' % i for i in range(1, 6)], 'app1, app2, app3, app4, app5'),
    (['app%d' % i for i in range(1, 9)], 'app1, app2, app3, app4, app5 and 3 more'),
    ('app1, app2 app3', 'app1, app2, app3'),
    ([], ''),
    (None, ''),
])
def test_format_hosts(hosts, text):
    assert dn.format_hosts(hosts) == text


def test_hosts_in_the_message():
    many = message('start', hosts=['app%d' % i for i in range(1, 8)])
    assert many['text'].endswith('on app1, app2, app3, app4, app5 and 2 more')
    assert many['divan']['hosts'] == ['app%d' % i for i in range(1, 8)]  # all of them for receivers
    assert message('start', hosts=['app1', 'app1'])['divan']['hosts'] == ['app1']
    assert message('start', hosts='app1,app2')['divan']['hosts'] == ['app1', 'app2']
    no_hosts = message('start', hosts=[])
    assert ' on ' not in no_hosts['text'] and no_hosts['divan']['hosts'] == []


# ---------------------------------------------------------------- redaction


def test_a_given_secret_in_detail_never_reaches_the_payload():
    secret = 'pg-Pa55w0rd/with&odd chars'
    detail = 'FATAL: password authentication failed for "%s" (url-encoded %s, json %s)' % (
        secret, 'pg-Pa55w0rd%2Fwith%26odd%20chars', json.dumps(secret))
    payload = message('failure', detail=detail, secrets=[secret, None, '', 'unused-secret'])
    dumped = json.dumps(payload)
    assert secret not in dumped and 'Pa55w0rd' not in dumped
    assert payload['divan']['detail'].startswith('FATAL: password authentication failed for "***"')


def test_secrets_are_redacted_from_every_field():
    payload = message('start', deployed_by='ci-token-abcdef', version='1.1.0', secrets=['ci-token-abcdef'])
    assert 'ci-token-abcdef' not in json.dumps(payload)
    assert payload['divan']['deployed_by'] == '***'


@pytest.mark.parametrize('text,expected', [
    ('pull from https://deploy:hunter2@registry.example.org/v2/ failed',
     'pull from https://***@registry.example.org/v2/ failed'),
    ('DATABASE_URL=postgresql://divan:S3cr3t@db:5432/divan', 'DATABASE_URL=postgresql://***@db:5432/divan'),
    ('curl -H "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln" failed',
     'curl -H "Authorization: Bearer ***" failed'),
    ('Authorization: Basic ZGl2YW46aHVudGVyMg==', 'Authorization: Basic ***'),
    ('GET /metrics?token=abc123&page=2', 'GET /metrics?token=***&page=2'),
    ('password=hunter2 user=divan', 'password=*** user=divan'),
    ('SECRET_KEY=0123456789abcdef S3_ACCESS_KEY=AKIA0000', 'SECRET_KEY=*** S3_ACCESS_KEY=***'),
    ('{"db_password": "hunter2", "user": "divan"}', '{"db_password": ***, "user": "divan"}'),
    ('smtp_password: hunter2', 'smtp_password: ***'),
    ('SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T1/B2/abc', 'SLACK_WEBHOOK_URL=***'),
    ('posted to https://hooks.slack.com/services/T1/B2/abcdef', 'posted to https://hooks.slack.com/services/***'),
    ('nothing secret in 1.1.0 on app1', 'nothing secret in 1.1.0 on app1'),
])
def test_credential_looking_parts_are_redacted(text, expected):
    assert dn.redact(text) == expected


def test_redact_is_idempotent_and_keeps_none():
    once = dn.redact('token=abc Bearer xyz https://u:p@h/', ['abc'])
    assert dn.redact(once) == once
    assert dn.redact(None) is None


def test_the_webhook_url_given_as_secret_is_redacted():
    detail = 'earlier notice to %s failed' % HOOK
    payload = message('failure', detail=detail, secrets=dn.url_secret_parts(HOOK))
    dumped = json.dumps(payload)
    assert 's3cretT0kenV4lue0000XyZ' not in dumped and '/services/T0DIVAN01' not in dumped


def test_url_secret_parts_leave_short_words():
    parts = dn.url_secret_parts(HOOK)
    assert 's3cretT0kenV4lue0000XyZ' in parts and '/services/T0DIVAN01/B0DIVAN02/s3cretT0kenV4lue0000XyZ' in parts
    assert 'services' not in parts
    assert dn.url_secret_parts('https://u:pw@h.example/hook?key=1') == [
        'https://u:pw@h.example/hook?key=1', '/hook', 'key=1', 'u', 'pw']


# ---------------------------------------------------------------- sending


class Opener(object):
    """Records the calls; answers ``answer`` (status, body) or raises ``error``."""

    def __init__(self, answer=(200, b'ok'), error=None):
        self.answer = answer
        self.error = error
        self.calls = []

    def __call__(self, url, body, headers, timeout, ca_path, validate_certs):
        self.calls.append({'url': url, 'body': json.loads(body.decode('utf-8')), 'headers': headers,
                           'timeout': timeout, 'ca_path': ca_path, 'validate_certs': validate_certs})
        if self.error is not None:
            raise self.error
        return self.answer


def assert_no_path(text):
    for part in HOOK_SECRET_PARTS:
        assert part not in text, text


def test_send_posts_json_and_returns_status_and_body():
    opener = Opener((200, b'ok'))
    payload = message('start')
    assert dn.send(HOOK, payload, timeout=3, ca_path='/ca.pem', opener=opener) == {'status': 200, 'body': 'ok'}
    call = opener.calls[0]
    assert call['body'] == payload and call['url'] == HOOK
    assert call['headers']['Content-Type'].startswith('application/json')
    assert call['headers']['User-Agent'] == 'divan.platform-deploy_notify'
    assert (call['timeout'], call['ca_path'], call['validate_certs']) == (3, '/ca.pem', True)


def test_send_body_is_cut_to_200_characters():
    res = dn.send(HOOK, {'text': 'x'}, opener=Opener((204, b'a' * 1000)))
    assert res == {'status': 204, 'body': 'a' * 200}


@pytest.mark.parametrize('status,body,hint', [
    (500, b'internal error', 'the webhook server failed'),
    (404, b'no_service', 'the webhook URL is wrong or was removed: check SLACK_WEBHOOK_URL'),
    (403, b'invalid_token', 'check SLACK_WEBHOOK_URL'),
    (410, b'channel_is_archived', 'the webhook was removed'),
    (400, b'invalid_payload', 'invalid payload'),
    (302, b'', 'the webhook did not accept the message'),
])
def test_non_2xx_raises_without_the_url_path(status, body, hint):
    with pytest.raises(dn.NotifyError) as exc:
        dn.send(HOOK, {'text': 'x'}, opener=Opener((status, body)))
    text = str(exc.value)
    assert text.startswith('webhook https://hooks.slack.com answered HTTP %d' % status)
    assert hint in text and exc.value.status == status and exc.value.kind == 'http'
    if body:
        assert '(%s)' % body.decode() in text
    assert_no_path(text)


def test_an_answer_echoing_the_url_does_not_leak_it():
    echo = ('no such hook %s' % HOOK).encode()
    with pytest.raises(dn.NotifyError) as exc:
        dn.send(HOOK, {'text': 'x'}, opener=Opener((404, echo)))
    assert_no_path(str(exc.value))
    ok = dn.send(HOOK, {'text': 'x'}, opener=Opener((200, echo)))
    assert_no_path(ok['body'])


@pytest.mark.parametrize('error,kind,text', [
    (ConnectionRefusedError(111, 'Connection refused'), 'connect', 'connection refused'),
    (socket.gaierror(-2, 'Name or service not known'), 'dns', 'DNS lookup failed: Name or service not known'),
    (socket.timeout('timed out'), 'connect', 'timed out'),
    (ssl.SSLCertVerificationError(1, 'certificate verify failed'), 'tls', 'TLS certificate verification failed'),
    (OSError('cannot reach %s' % HOOK), 'connect', 'network error: cannot reach https://hooks.slack.com'),
    (RuntimeError('odd failure for %s' % HOOK), 'protocol', 'RuntimeError: odd failure for'),
])
def test_connection_errors_raise_without_the_url_path(error, kind, text):
    with pytest.raises(dn.NotifyError) as exc:
        dn.send(HOOK, {'text': 'x'}, opener=Opener(error=error))
    message_text = str(exc.value)
    assert message_text.startswith('cannot send to the webhook https://hooks.slack.com: ')
    assert text in message_text and exc.value.kind == kind and exc.value.status is None
    assert_no_path(message_text)


def test_default_opener_errors_hide_the_path(monkeypatch):
    def refused(url, **kwargs):
        assert kwargs['method'] == 'POST' and kwargs['body'].startswith(b'{')
        raise ConnectionRefusedError(111, 'refused %s' % url)

    monkeypatch.setattr(dn, 'http_request', refused)
    with pytest.raises(dn.NotifyError) as exc:
        dn.send(HOOK, {'text': 'x'})
    assert str(exc.value) == 'cannot send to the webhook https://hooks.slack.com: connection refused'


@pytest.mark.parametrize('url,text', [
    ('', 'no webhook URL'),
    (None, 'no webhook URL'),
    ('ftp://files.example.org/secret-path-123456', 'webhook URL ftp://files.example.org: use an http:// or https://'),
    ('hooks.slack.com/services/T0DIVAN01/B0DIVAN02/s3cretT0kenV4lue0000XyZ', 'use an http:// or https://'),
    ('https:///services/T0DIVAN01/B0DIVAN02/s3cretT0kenV4lue0000XyZ', 'is not usable: URL has no host'),
])
def test_bad_urls_are_config_errors_without_the_path(url, text):
    opener = Opener()
    with pytest.raises(dn.NotifyError) as exc:
        dn.send(url, {'text': 'x'}, opener=opener)
    assert text in str(exc.value) and exc.value.kind == 'config'
    assert not opener.calls
    assert_no_path(str(exc.value))
    assert 'secret-path' not in str(exc.value)


@pytest.mark.parametrize('url,origin', [
    (HOOK, 'https://hooks.slack.com'),
    ('http://user:pw@127.0.0.1:8080/hook?x=1#f', 'http://127.0.0.1:8080'),
    ('https://[::1]:8443/h', 'https://[::1]:8443'),
    ('HTTPS://Hooks.Example.org/a', 'https://hooks.example.org'),
    ('not a url', '(a URL without scheme or host)'),
])
def test_url_origin(url, origin):
    assert dn.url_origin(url) == origin
