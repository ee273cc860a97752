# -*- coding: utf-8 -*-
"""http_check against real servers on 127.0.0.1: HTTPS with a test CA, headers, TLS, redirects, WebSocket, Socket.IO.

The Socket.IO polls and the activities close codes run against two real
python-socketio servers (each its own process as far as sessions go: no
shared manager) behind a small ASGI balancer, round robin or sticky by
cookie as Caddy's lb_policy cookie, with an activities-core stand-in.
"""

import itertools
import json
import os

import pytest

from integration_helpers import ADMIN_TOKEN, UvicornServer, run_module

from ansible_collections.divan.platform.plugins.module_utils import http_probe
from ansible_collections.divan.platform.plugins.module_utils.tls_probe import check_tls
from ansible_collections.divan.platform.plugins.module_utils.ws_probe import socketio_check, websocket_check


def probe(**kwargs):
    return http_probe.run_probe(kwargs)


# ---------------------------------------------------------------- HTTP + JSON


def test_health_json_assertions_pass(https_good, pki):
    res = probe(url=https_good.url + '/health/ready', ca_path=pki['ca'],
                json={'status': 'ok', 'checks.db': 'ok', 'workers': 3, 'length(keys(checks))': '2'})
    assert res['passed'], res['failures']
    assert res['status'] == 200
    assert isinstance(res['latency_ms'], int) and res['latency_ms'] >= 0


def test_json_assertion_mismatch_is_reported(https_good, pki):
    res = probe(url=https_good.url + '/health/degraded', ca_path=pki['ca'], status=[200, 503],
                json={'status': 'ok', 'checks.db': 'ok'})
    assert not res['passed']
    assert 'JSON status: expected "ok", got "degraded"' in res['failures']
    assert 'JSON checks.db: expected "ok", got "down"' in res['failures']


def test_status_and_body_failures(https_good, pki):
    res = probe(url=https_good.url + '/health/degraded', ca_path=pki['ca'], body_contains=['healthy'])
    assert res['failures'] == ['HTTP status 503, expected 200', "body does not contain 'healthy'"]


def test_admin_token_header_opens_metrics_and_is_never_returned(https_good, pki):
    denied = probe(url=https_good.url + '/metrics', ca_path=pki['ca'], status=[403])
    assert denied['passed'], denied['failures']
    allowed = probe(url=https_good.url + '/metrics', ca_path=pki['ca'], headers={'X-Admin-Token': ADMIN_TOKEN},
                    body_contains=['process_cpu_seconds_total'])
    assert allowed['passed'], allowed['failures']
    assert ADMIN_TOKEN not in json.dumps(allowed)
    wrong = probe(url=https_good.url + '/metrics', ca_path=pki['ca'], headers={'X-Admin-Token': 'nope'})
    assert wrong['failures'] == ['HTTP status 403, expected 200']


def test_retries_with_backoff_until_the_service_is_up(https_good, pki):
    https_good.counters.pop('/flaky', None)
    sleeps = []
    res = http_probe.run_probe({'url': https_good.url + '/flaky', 'ca_path': pki['ca'], 'retries': 5,
                                'delay': 0.01, 'backoff': 3, 'json': {'status': 'ok'}}, sleep=sleeps.append)
    assert res['passed'] and res['attempts'] == 3
    assert sleeps == [0.01, 0.03]


def test_retries_exhausted_reports_last_failure(https_good, pki):
    https_good.counters.pop('/flaky', None)
    res = http_probe.run_probe({'url': https_good.url + '/flaky', 'ca_path': pki['ca'], 'retries': 1,
                                'delay': 0.01}, sleep=lambda s: None)
    assert not res['passed'] and res['attempts'] == 2
    assert res['failures'] == ['HTTP status 503, expected 200']


def test_follow_redirects(https_good, pki):
    res = probe(url=https_good.url + '/moved', ca_path=pki['ca'], follow_redirects=True, json={'status': 'ok'})
    assert res['passed'], res['failures']
    assert res['redirects'][0]['status'] == 301
    not_followed = probe(url=https_good.url + '/moved', ca_path=pki['ca'])
    assert not_followed['failures'] == ['HTTP status 301, expected 200']


def test_unknown_ca_fails_verification(https_good):
    res = probe(url=https_good.url + '/')
    assert not res['passed'] and res['error_kind'] == 'tls'
    assert 'unable to get local issuer certificate' in res['failures'][0]


def test_connection_refused_is_a_clear_failure():
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    res = probe(url='http://127.0.0.1:%d/' % port, timeout=2)
    assert res['failures'] == ['HTTP: connection refused'] and res['error_kind'] == 'connect'


# ---------------------------------------------------------------- security headers


def test_good_security_headers_score_a_plus(https_good, pki):
    res = probe(url=https_good.url + '/', ca_path=pki['ca'], security_headers=True, min_grade='A')
    assert res['passed'], res['failures']
    sh = res['security_headers']
    # Observatory: CSP without unsafe +5, XFO via frame-ancestors +5, Referrer-Policy private +5, CORP +10
    assert sh['score'] == 125 and sh['grade'] == 'A+'
    assert sh['tests']['strict-transport-security']['result'] == 'hsts-implemented-max-age-at-least-six-months'
    assert sh['hsts'] == {'max_age': 31536000, 'include_subdomains': True, 'preload': False}


def test_missing_and_unsafe_headers_fail(https_bad, pki):
    res = probe(url=https_bad.url + '/', ca_path=pki['ca'], security_headers=True)
    assert not res['passed']
    text = '\n'.join(res['failures'])
    assert 'Strict-Transport-Security: missing' in text
    assert "script-src allows 'unsafe-inline'" in text
    assert "script-src allows 'unsafe-eval'" in text
    assert 'X-Content-Type-Options: not "nosniff"' in text
    assert 'X-Frame-Options: framing is not denied' in text
    assert 'Referrer-Policy: missing' in text
    assert 'server: reveals a version' in text
    assert 'x-powered-by: reveals a version' in text
    sh = res['security_headers']
    assert sh['tests']['cookies']['result'] == 'cookies-session-without-secure-flag'
    assert sh['score'] == 0 and sh['grade'] == 'F'


def test_ignored_header_tests_do_not_fail(https_bad, pki):
    res = probe(url=https_bad.url + '/', ca_path=pki['ca'], security_headers=True,
                security_headers_ignore=['content-security-policy', 'strict-transport-security',
                                         'x-content-type-options', 'x-frame-options', 'referrer-policy',
                                         'server-version', 'cookies'])
    assert res['passed'], res['failures']
    assert res['security_headers']['grade'] == 'F'


# ---------------------------------------------------------------- TLS


def test_tls_valid_certificate(https_good, pki):
    res = check_tls('127.0.0.1', https_good.port, ca_path=pki['ca'], min_days_valid=30)
    assert res['failures'] == [] and res['verified']
    assert 88 <= res['days_left'] <= 90
    assert res['not_after'] == pki['valid']['not_after'].strftime('%Y-%m-%dT%H:%M:%SZ')
    assert '127.0.0.1' in res['subject_alt_names'] and res['tls_version'].startswith('TLS')


def test_tls_expired_certificate(https_expired, pki):
    res = check_tls('127.0.0.1', https_expired.port, ca_path=pki['ca'])
    assert not res['verified'] and res['error_kind'] == 'tls'
    assert res['verify_error'] == 'certificate has expired'
    assert res['days_left'] in (-3, -4)
    assert res['not_after'] == pki['expired']['not_after'].strftime('%Y-%m-%dT%H:%M:%SZ')
    assert any(f.startswith('certificate expired on ') for f in res['failures'])
    # the HTTP request itself fails the same way
    http = probe(url=https_expired.url + '/', ca_path=pki['ca'])
    assert http['failures'] == ['HTTP: TLS certificate verification failed: certificate has expired']


def test_tls_expiring_soon(https_expiring, pki):
    soon = check_tls('127.0.0.1', https_expiring.port, ca_path=pki['ca'], min_days_valid=14)
    assert soon['verified'] and soon['days_left'] in (4, 5)
    assert len(soon['failures']) == 1 and 'below min_days_valid 14' in soon['failures'][0]
    ok = check_tls('127.0.0.1', https_expiring.port, ca_path=pki['ca'], min_days_valid=3)
    assert ok['failures'] == []


def test_tls_hostname_match_through_connect_host(https_good, pki):
    good = probe(url='https://divan.test:%d/' % https_good.port, connect_host='127.0.0.1', ca_path=pki['ca'],
                 tls=True)
    assert good['passed'], good['failures']
    bad = check_tls('wrong.test', https_good.port, connect_host='127.0.0.1', ca_path=pki['ca'])
    assert bad['verify_error'].startswith('Hostname mismatch')


# ---------------------------------------------------------------- redirect


def test_redirect_to_https_then_check_target(http_redirect, pki):
    res = probe(url=http_redirect + '/health/ready', redirect_https=True, ca_path=pki['ca'],
                json={'status': 'ok'}, tls=True, security_headers=True)
    assert res['passed'], res['failures']
    assert res['redirect']['status'] == 301 and res['redirect']['same_host']
    assert res['security_headers']['tests']['redirection']['result'] == 'redirection-to-https'


def test_redirect_failures(http_redirect):
    temporary = probe(url=http_redirect + '/temporary', redirect_https=True, request=False)
    assert temporary['failures'] == ['redirect: HTTP 302 is not a permanent redirect; use 301 or 308']
    plain = probe(url=http_redirect + '/plain', redirect_https=True, request=False)
    assert 'without redirecting' in plain['failures'][0]
    elsewhere = probe(url=http_redirect + '/elsewhere', redirect_https=True, request=False)
    assert elsewhere['failures'] == ['redirect: Location points to another host; redirect to https on the same '
                                     'host first']


# ---------------------------------------------------------------- WebSocket / Socket.IO


def test_websocket_echo_plain_and_tls(realtime, realtime_tls, pki):
    plain = websocket_check(realtime.ws_url + '/ws/echo', message='ping divan')
    assert plain['handshake'] and plain['echo_ok'] and plain['failures'] == []
    tls = websocket_check(realtime_tls.ws_url + '/ws/echo', message='x' * 70000, ca_path=pki['ca'])
    assert tls['echo_ok'], tls['failures']


def test_websocket_wrong_echo_and_refused_handshake(realtime):
    upper = websocket_check(realtime.ws_url + '/ws/upper', message='ping')
    assert upper['handshake'] and upper['echo_ok'] is False
    assert upper['failures'][0].startswith('WebSocket: the reply to the test message does not contain')
    expect = websocket_check(realtime.ws_url + '/ws/upper', message='ping', expect='PING')
    assert expect['echo_ok'] and expect['failures'] == []
    refused = websocket_check(realtime.ws_url + '/ws/reject')
    assert refused['error_kind'] == 'handshake'
    assert refused['failures'][0].startswith('WebSocket handshake answered HTTP 403 instead of 101')


def test_socketio_handshake_upgrade_and_connect(realtime, realtime_tls, pki):
    res = socketio_check(realtime.url)
    assert res['failures'] == [] and res['sid_received'] and res['upgraded'] and res['connected']
    assert 'websocket' in res['upgrades']
    tls = socketio_check(realtime_tls.url, ca_path=pki['ca'])
    assert tls['connected'], tls['failures']


def test_socketio_refused_namespace_and_wrong_path(realtime, https_good, pki):
    refused = socketio_check(realtime.url, namespace='/private')
    assert refused['upgraded'] and not refused['connected'] and refused['error_kind'] == 'connect_error'
    wrong = socketio_check(https_good.url, ca_path=pki['ca'])  # a plain web server: no Engine.IO there
    assert wrong['error_kind'] == 'handshake'
    assert wrong['failures'][0].startswith('Engine.IO handshake: expected an OPEN packet')


# ---------------------------------------------------------------- through ansible


def _activities():
    """activities-core's contract: POST creates a session, the stream greets then broadcasts, 1008 when unknown."""
    sessions = {}

    async def app(scope, receive, send):
        parts = scope['path'].strip('/').split('/')  # activities, session, <id>[, stream]
        if scope['type'] == 'http':
            created = parts[2] not in sessions
            sessions.setdefault(parts[2], [])
            await send({'type': 'http.response.start', 'status': 201 if created else 200,
                        'headers': [(b'content-type', b'application/json')]})
            await send({'type': 'http.response.body', 'body': json.dumps({'session': parts[2]}).encode()})
            return
        await receive()  # websocket.connect
        await send({'type': 'websocket.accept'})
        if parts[2] not in sessions:
            await send({'type': 'websocket.close', 'code': 1008, 'reason': 'session_not_found'})
            return
        sessions[parts[2]].append(send)
        await send({'type': 'websocket.send', 'text': json.dumps({'session': parts[2], 'pid': os.getpid()})})
        while True:
            message = await receive()
            if message['type'] == 'websocket.disconnect':
                sessions[parts[2]].remove(send)
                return
            for peer in list(sessions[parts[2]]):
                await peer({'type': 'websocket.send', 'text': message.get('text')})

    return app


def _balanced_app(sticky):
    """Two backend 'processes' (python-socketio servers without a shared manager) behind a balancer."""
    import socketio

    def backend(pid):
        sio = socketio.AsyncServer(async_mode='asgi', cors_allowed_origins='*')

        @sio.event
        async def ping(sid, data=None):  # pylint: disable=unused-variable
            return {'pong': data, 'version': 'test', 'pid': pid}

        return socketio.ASGIApp(sio)

    backends = [backend(101), backend(102)]
    activities = _activities()
    turn = itertools.count()

    async def app(scope, receive, send):
        if scope['path'].startswith('/activities/'):
            return await activities(scope, receive, send)
        cookie = dict(scope['headers']).get(b'cookie', b'').decode()
        pinned = [int(c.split('=', 1)[1]) for c in cookie.split('; ') if c.startswith('lb=')]
        index = pinned[0] if sticky and pinned else next(turn) % 2

        async def send_with_cookie(message):
            if message['type'] == 'http.response.start' and sticky and not pinned:
                message = dict(message, headers=list(message.get('headers', []))
                               + [(b'set-cookie', b'lb=%d; Path=/; HttpOnly' % index)])
            await send(message)

        return await backends[index](scope, receive, send_with_cookie)

    return app


@pytest.fixture(scope='module')
def sticky():
    server = UvicornServer(_balanced_app(True))
    yield server
    server.stop()


@pytest.fixture(scope='module')
def round_robin():
    server = UvicornServer(_balanced_app(False))
    yield server
    server.stop()


def test_socketio_polls_pass_with_the_sticky_cookie(sticky):
    res = socketio_check(sticky.url, polls=20)
    assert res['failures'] == [], res
    assert res['polls_ok'] == 20 and len(res['pids']) == 1 and res['pids'][0] in (101, 102)
    assert res['upgraded'] and res['connected']


def test_socketio_polls_fail_on_two_processes_without_sticky_sessions(round_robin):
    res = socketio_check(round_robin.url, polls=20)
    assert res['error_kind'] == 'poll' and not res['upgraded']
    assert res['poll_failures'] == {'400 Invalid session': 20}
    assert res['failures'][0].startswith('Socket.IO: 20 of 20 polls: 400 Invalid session (')
    # without polls the upgrade request is the one that lands on the other process (uvicorn answers 403 when the
    # application refuses a WebSocket)
    no_polls = socketio_check(round_robin.url, polls=0)
    assert no_polls['failures'][0].startswith('WebSocket handshake answered HTTP 403 instead of 101')


def test_activities_session_created_then_echo_and_unknown_session_closed(sticky):
    create = probe(url=sticky.url + '/activities/session/verify-int', method='POST', status=[200, 201])
    assert create['passed'] and create['status'] == 201, create['failures']
    again = probe(url=sticky.url + '/activities/session/verify-int', method='POST', status=[201])
    assert again['failures'] == ['HTTP status 200, expected 201']
    echo = websocket_check(sticky.ws_url + '/activities/session/verify-int/stream', greeting='"verify-int"',
                           message='verify echo')
    assert echo['failures'] == [] and echo['greeting_ok'] and echo['echo_ok']
    unknown = websocket_check(sticky.ws_url + '/activities/session/verify-none/stream', expect_close=1008)
    assert unknown['failures'] == [] and unknown['close_code'] == 1008
    assert unknown['close_reason'] == 'session_not_found'
    known = websocket_check(sticky.ws_url + '/activities/session/verify-int/stream', expect_close=1008, timeout=1)
    assert known['failures'][0].startswith('WebSocket: no close with code 1008')
    closed = websocket_check(sticky.ws_url + '/activities/session/verify-none/stream', message='x')
    assert closed['failures'] == ['server closed the WebSocket (code 1008 session_not_found)']


def test_module_polls_activities_and_no_retry_of_failed_polls(sticky, round_robin):
    args = {'probes': [
        {'name': 'create', 'url': sticky.url + '/activities/session/verify-mod', 'method': 'POST',
         'status': [200, 201]},
        {'name': 'echo', 'url': sticky.ws_url + '/activities/session/verify-mod/stream', 'websocket': True,
         'ws_greeting': 'verify-mod', 'ws_message': 'verify echo verify-mod'},
        {'name': 'unknown', 'url': sticky.ws_url + '/activities/session/verify-nope/stream', 'websocket': True,
         'expect_close': 1008},
        {'name': 'sio sticky', 'url': sticky.url, 'socketio': True, 'retries': 3},
        {'name': 'sio round robin', 'url': round_robin.url, 'socketio': True, 'retries': 3, 'delay': 0.1},
    ]}
    rc, result, output = run_module('http_check', args)
    assert rc == 2, output
    assert [p['name'] for p in result['probes'] if not p['passed']] == ['sio round robin']
    rr = result['probes'][4]
    assert rr['attempts'] == 1 and rr['socketio']['polls'] == 20 and rr['socketio']['polls_ok'] == 0
    assert result['msg'].startswith('1 of 5 probe(s) failed: sio round robin: Socket.IO: 20 of 20 polls: '
                                    '400 Invalid session')
    assert result['probes'][3]['socketio']['polls_ok'] == 20
    assert result['probes'][2]['websocket']['close_code'] == 1008
    # check mode sends no POST: the create probe is skipped, the others run
    rc, result, output = run_module('http_check', {'probes': args['probes'][:1] + args['probes'][2:4]}, check=True)
    assert rc == 0, output
    assert [bool(p.get('skipped')) for p in result['probes']] == [True, False, False]


def test_module_all_probes_pass(https_good, http_redirect, realtime, realtime_tls, pki):
    args = {'probes': [
        {'name': 'ready', 'url': https_good.url + '/health/ready', 'ca_path': pki['ca'],
         'json': {'status': 'ok'}, 'tls': True, 'min_days_valid': 30},
        {'name': 'metrics', 'url': https_good.url + '/metrics', 'ca_path': pki['ca'],
         'headers': {'X-Admin-Token': ADMIN_TOKEN}, 'body_contains': ['process_cpu_seconds_total']},
        {'name': 'headers', 'url': https_good.url + '/', 'ca_path': pki['ca'], 'security_headers': True,
         'min_grade': 'A'},
        {'name': 'redirect', 'url': http_redirect + '/x', 'redirect_https': True, 'request': False},
        {'name': 'ws', 'url': realtime_tls.ws_url + '/ws/echo', 'ca_path': pki['ca'], 'websocket': True,
         'ws_message': 'hello'},
        {'name': 'sio', 'url': realtime.url, 'socketio': True, 'socketio_polls': 0},
    ]}
    rc, result, output = run_module('http_check', args, verbosity=3)
    assert rc == 0, output
    assert result['summary'] == 'all 6 probe(s) passed'
    assert [p['name'] for p in result['probes'] if p['passed']] == ['ready', 'metrics', 'headers', 'redirect',
                                                                    'ws', 'sio']
    assert result['probes'][2]['security_headers']['grade'] == 'A+'
    assert result['probes'][0]['tls']['days_left'] >= 88
    assert ADMIN_TOKEN not in output  # not even in the -vvv invocation


def test_module_fails_with_summary(https_bad, https_expired, pki):
    args = {'probes': [
        {'name': 'headers', 'url': https_bad.url + '/', 'ca_path': pki['ca'], 'security_headers': True},
        {'name': 'expired', 'url': https_expired.url + '/', 'ca_path': pki['ca'], 'tls': True},
    ]}
    rc, result, output = run_module('http_check', args)
    assert rc == 2, output
    assert result['failed'] is True
    assert result['msg'].startswith('2 of 2 probe(s) failed: headers: ')
    assert 'Strict-Transport-Security: missing' in result['msg']
    assert 'expired: HTTP: TLS certificate verification failed: certificate has expired' in result['msg']
    assert 'Traceback' not in output
