# -*- coding: utf-8 -*-
"""http_probe logic with the network stubbed: assertions, redirect rules, retries, deadline, masking."""

import socket
import ssl

import pytest

from ansible_collections.divan.platform.plugins.module_utils import http_probe as hp
from ansible_collections.divan.platform.plugins.module_utils import net


class FakeClock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def response(status=200, headers=(), body=b'', url='https://example.org/'):
    return hp.Response(status, 'OK', list(headers), body, url, [{'url': url, 'status': status}], 12)


# ---------------------------------------------------------------- assertions


def test_check_status():
    assert hp.check_status(200, [200]) == []
    assert hp.check_status(204, [200, 204]) == []
    assert hp.check_status(503, [200]) == ['HTTP status 503, expected 200']
    assert hp.check_status(500, [200, 204]) == ['HTTP status 500, expected 200 or 204']


def test_check_body():
    assert hp.check_body(b'hello world', ['hello', 'world']) == []
    assert hp.check_body(b'hello', 'bye') == ["body does not contain 'bye'"]
    assert hp.check_body(b'anything', None) == []


@pytest.mark.parametrize('expr,expected,ok', [
    ('status', 'ok', True), ('status', 'down', False), ('checks.db', 'ok', True), ('count', 3, True),
    ('count', '3', True), ('count', 4, False), ('ready', True, True), ('ready', 'true', False), ('ready', 1, False),
    ('items[0].name', 'a', True), ('length(items)', 2, True), ('missing', None, True), ('missing', 'x', False),
    ('items', [{'name': 'a'}, {'name': 'b'}], True),
])
def test_check_json(expr, expected, ok):
    body = b'{"status": "ok", "checks": {"db": "ok"}, "count": 3, "ready": true, "items": [{"name": "a"}, {"name": "b"}]}'
    failures = hp.check_json(body, {expr: expected})
    assert (failures == []) is ok, failures


def test_check_json_errors():
    assert hp.check_json(b'<html>', {'status': 'ok'}) == ['body is not JSON, cannot evaluate 1 JSON assertion(s)']
    failures = hp.check_json(b'{}', {'[[': 1})
    assert failures[0].startswith("JSON assertion '[[' is not a valid JMESPath expression")
    assert hp.check_json(b'{"status": "degraded"}', {'status': 'ok'}) == ['JSON status: expected "ok", got "degraded"']


def test_check_json_without_jmespath(monkeypatch):
    monkeypatch.setattr(hp, 'HAS_JMESPATH', False)
    assert hp.check_json(b'{}', {'a': 1})[0].startswith('JSON assertions need the jmespath')
    assert hp.check_json(b'{}', None) == []


# ---------------------------------------------------------------- redirect


def test_http_equivalent():
    assert hp.http_equivalent('https://example.org/a?b=1') == 'http://example.org/a?b=1'
    assert hp.http_equivalent('https://example.org:8443/a', http_port=8080) == 'http://example.org:8080/a'
    assert hp.http_equivalent('http://example.org/x') == 'http://example.org/x'


@pytest.mark.parametrize('status,location,failures,same_host', [
    (301, 'https://example.org/path?q=1', [], True),
    (308, 'https://example.org/path?q=1', [], True),
    (302, 'https://example.org/path?q=1', ['redirect: HTTP 302 is not a permanent redirect; use 301 or 308'], True),
    (301, 'https://www.example.org/path?q=1',
     ['redirect: Location points to another host; redirect to https on the same host first'], False),
    (301, 'http://example.org/path?q=1', ['redirect: Location is not an https:// URL'], True),
    (301, 'https://example.org/', ['redirect: Location drops or changes the path (/path?q=1 -> /)'], True),
    (301, '/path?q=1', ['redirect: Location is not an https:// URL'], True),
])
def test_redirect_rules(monkeypatch, status, location, failures, same_host):
    calls = []

    def fake(url, **kwargs):
        calls.append(url)
        return response(status, [('Location', location)], url=url)

    monkeypatch.setattr(hp, 'http_request', fake)
    info, got = hp.check_redirect_https('https://example.org/path?q=1')
    assert calls == ['http://example.org/path?q=1']
    assert got == failures
    assert info['same_host'] is same_host


def test_redirect_missing_and_unreachable(monkeypatch):
    monkeypatch.setattr(hp, 'http_request', lambda url, **kw: response(200, url=url))
    info, failures = hp.check_redirect_https('http://example.org/')
    assert failures == ['redirect: http://example.org/ answered HTTP 200 without redirecting; redirect it to https '
                        'with 301 or 308']

    def refused(url, **kw):
        raise ConnectionRefusedError(111, 'refused')

    monkeypatch.setattr(hp, 'http_request', refused)
    info, failures = hp.check_redirect_https('http://example.org/')
    assert info['no_http'] and 'is not reachable (connection refused)' in failures[0]


# ---------------------------------------------------------------- network errors


@pytest.mark.parametrize('exc,kind,text', [
    (socket.gaierror(-2, 'Name or service not known'), 'dns', 'DNS lookup failed: Name or service not known'),
    (ConnectionRefusedError(111, 'Connection refused'), 'connect', 'connection refused'),
    (socket.timeout('timed out'), 'connect', 'timed out'),
    (ssl.SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number'), 'tls', 'TLS error'),
    (ValueError('bad url'), 'config', 'bad url'),
])
def test_network_errors_become_failures(monkeypatch, exc, kind, text):
    def boom(*args, **kwargs):
        raise exc

    monkeypatch.setattr(hp, 'http_request', boom)
    res = hp.run_probe({'url': 'https://example.org/'})
    assert res['error_kind'] == kind and not res['passed']
    assert res['failures'][0].startswith('HTTP: ') and text in res['failures'][0]


def test_cert_verification_error_is_tls_not_config():
    exc = ssl.SSLCertVerificationError(1, 'certificate verify failed')
    exc.verify_message = 'certificate has expired'
    assert isinstance(exc, ValueError)  # why the order in describe_error matters
    assert net.describe_error(exc) == ('tls', 'TLS certificate verification failed: certificate has expired')


def test_bad_urls():
    res = hp.run_probe({'url': 'ftp://example.org/'})
    assert res['error_kind'] == 'config' and 'unsupported URL scheme' in res['failures'][0]
    assert hp.run_probe({'url': ''})['failures'] == ['a probe needs a url']


# ---------------------------------------------------------------- retries


def test_retries_backoff_and_deadline(monkeypatch):
    clock = FakeClock()
    statuses = iter([503, 503, 503, 503, 503, 200])
    monkeypatch.setattr(hp, 'http_request', lambda url, **kw: response(next(statuses)))
    res = hp.run_probe({'url': 'https://example.org/', 'retries': 10, 'delay': 1, 'backoff': 2, 'deadline': 10},
                       sleep=clock.sleep, clock=clock)
    # waits 1, 2, 4 (t=7); the next wait of 8 would end past the 10 s deadline
    assert res['attempts'] == 4 and not res['passed']
    assert res['failures'] == ['HTTP status 503, expected 200', 'deadline of 10s reached after 4 attempt(s)']
    assert clock.now == 7


def test_retries_until_pass(monkeypatch):
    clock = FakeClock()
    statuses = iter([503, 502, 200])
    monkeypatch.setattr(hp, 'http_request', lambda url, **kw: response(next(statuses)))
    res = hp.run_probe({'url': 'https://example.org/', 'retries': 5, 'delay': 0.5, 'backoff': 3},
                       sleep=clock.sleep, clock=clock)
    assert res['passed'] and res['attempts'] == 3 and clock.now == 0.5 + 1.5


def test_delay_is_capped(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(hp, 'http_request', lambda url, **kw: response(500))
    res = hp.run_probe({'url': 'https://example.org/', 'retries': 3, 'delay': 50, 'backoff': 10},
                       sleep=clock.sleep, clock=clock)
    assert res['attempts'] == 4 and clock.now == 50 + 60 + 60


# ---------------------------------------------------------------- headers and names


def test_request_headers_are_sent_but_never_returned(monkeypatch):
    seen = {}

    def fake(url, headers=None, **kw):
        seen.update(headers)
        return response(200, [('Content-Type', 'text/plain')], b'metrics')

    monkeypatch.setattr(hp, 'http_request', fake)
    res = hp.run_probe({'url': 'https://example.org/metrics', 'headers': {'X-Admin-Token': 'tok-123456789'},
                        'security_headers': True})
    assert seen['X-Admin-Token'] == 'tok-123456789'
    assert seen['Origin'] == 'https://observatory-probe.invalid'  # added for the CORS test
    assert 'tok-123456789' not in repr(res)


def test_credentials_in_url_are_redacted(monkeypatch):
    monkeypatch.setattr(hp, 'http_request', lambda url, **kw: response(500))
    res = hp.run_probe({'url': 'https://user:pa55word@example.org/x'})
    assert res['name'] == res['url'] == 'https://example.org/x'
    assert 'pa55word' not in repr(res)


def test_summary():
    ok = {'name': 'a', 'passed': True, 'failures': []}
    bad = {'name': 'b', 'passed': False, 'failures': ['x', 'y']}
    assert hp.summarize([ok]) == 'all 1 probe(s) passed'
    assert hp.summarize([ok, bad]) == '1 of 2 probe(s) failed: b: x; y'


def test_split_url_and_host_header():
    assert net.split_url('https://example.org') == ('https', 'example.org', 443, '/')
    assert net.split_url('ws://127.0.0.1:8080/a?b') == ('ws', '127.0.0.1', 8080, '/a?b')
    assert net.host_header('example.org', 443, 'https') == 'example.org'
    assert net.host_header('example.org', 8443, 'https') == 'example.org:8443'
    assert net.host_header('::1', 80, 'http') == '[::1]'
    with pytest.raises(ValueError):
        net.split_url('https:///nohost')


# ---------------------------------------------------------------- uploads: body identity, user content


def test_check_body_equals():
    assert hp.check_body_equals(b'divan verify abc', 'divan verify abc') == []
    assert hp.check_body_equals(b'anything', None) == []
    assert hp.check_body_equals(b'divan verify abd', 'divan verify abc') == [
        'body is not the expected 16 bytes (got 16 bytes, same length)']
    assert hp.check_body_equals(b'', 'x') == ['body is not the expected 1 bytes (got 0 bytes)']


@pytest.mark.parametrize('headers,sandbox,attachment,failures', [
    ([('Content-Security-Policy', "default-src 'none'; sandbox"), ('X-Content-Type-Options', 'nosniff')],
     True, False, 0),
    ([('Content-Security-Policy', 'sandbox allow-downloads'), ('X-Content-Type-Options', 'NoSniff')], True, False, 0),
    ([('Content-Disposition', 'attachment; filename="x.html"'), ('X-Content-Type-Options', 'nosniff')],
     False, True, 0),
    # a directive merely mentioning sandbox is not one
    ([('Content-Security-Policy', "default-src 'self' https://sandbox.example.org"),
      ('X-Content-Type-Options', 'nosniff')], False, False, 1),
    ([('Content-Disposition', 'inline'), ('Content-Security-Policy', "frame-ancestors 'none'")], False, False, 2),
])
def test_check_user_content(headers, sandbox, attachment, failures):
    info, found = hp.check_user_content([('Content-Type', 'text/html')] + headers)
    assert info['csp_sandbox'] is sandbox and info['attachment'] is attachment
    assert len(found) == failures
    if not (sandbox or attachment):
        assert found[0].startswith('user content: served as text/html inline without Content-Security-Policy: '
                                   'sandbox or Content-Disposition: attachment')


def test_put_probe_sends_method_and_body_then_user_content_is_checked(monkeypatch):
    seen = []

    def fake(url, method='GET', body=None, **kw):
        seen.append((method, body))
        if method == 'PUT':
            return response(201, [('Content-Type', 'application/json')], b'{"path":"verify/a.html","size":8}')
        return response(200, [('Content-Type', 'text/html')], b'<script>')

    monkeypatch.setattr(hp, 'http_request', fake)
    put = hp.run_probe({'url': 'https://example.org/uploads/verify/a.html', 'method': 'PUT', 'body': '<script>',
                        'status': [201], 'body_contains': ['"size":8']})
    assert put['passed'], put['failures']
    get = hp.run_probe({'url': 'https://example.org/uploads/verify/a.html', 'body_equals': '<script>',
                        'user_content': True})
    assert seen == [('PUT', '<script>'), ('GET', None)]
    assert not get['passed'] and get['user_content']['nosniff'] is False
    assert [f.split(':', maxsplit=1)[0] for f in get['failures']] == ['user content', 'user content']


# ---------------------------------------------------------------- Socket.IO: no retrying a failed poll


def _sio_result(sid_received, failures):
    return {'sid_received': sid_received, 'failures': list(failures), 'latency_ms': 3,
            'error_kind': 'poll' if failures else None}


def test_socketio_failed_polls_are_never_retried(monkeypatch):
    clock = FakeClock()
    calls = []

    def fake(url, **kw):
        calls.append(kw['polls'])
        return _sio_result(True, ['Socket.IO: 10 of 20 polls: 400 Invalid session (...)'])

    monkeypatch.setattr(hp, 'socketio_check', fake)
    res = hp.run_probe({'url': 'https://example.org', 'socketio': True, 'retries': 5}, sleep=clock.sleep, clock=clock)
    assert calls == [20] and res['attempts'] == 1 and clock.now == 0  # default 20 polls, one attempt
    assert res['failures'] == ['Socket.IO: 10 of 20 polls: 400 Invalid session (...)',
                               'not retried: the Socket.IO session existed (retries cover a failed handshake only)']
    assert 'retryable' not in res


def test_socketio_failed_handshake_is_retried(monkeypatch):
    clock = FakeClock()
    results = iter([_sio_result(False, ['Socket.IO: connection refused']),
                    _sio_result(False, ['Engine.IO polling handshake answered HTTP 502']),
                    _sio_result(True, [])])
    monkeypatch.setattr(hp, 'socketio_check', lambda url, **kw: next(results))
    res = hp.run_probe({'url': 'https://example.org', 'socketio': True, 'retries': 5, 'socketio_polls': 3},
                       sleep=clock.sleep, clock=clock)
    assert res['passed'] and res['attempts'] == 3
