# -*- coding: utf-8 -*-
"""deploy_notify against a real webhook receiver on 127.0.0.1 (http.server in a thread, HTTP and HTTPS).

The receiver records every request (path, headers, JSON body). Its webhook
paths carry a secret, as Slack's do: the secret must never appear in the
module's result or in ansible's -vvv output.
"""

import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integration_helpers import run_module

from ansible_collections.divan.platform.plugins.module_utils import deploy_notify as dn

HOOK_SECRET = 'T0DIVAN/B0DIVAN/Zk3xS3cretHookT0ken9Q'
HOOK_TOKEN = 'Zk3xS3cretHookT0ken9Q'
DB_PASSWORD = 'pg-' + 'Secr3t' * 4


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    requests = None  # per-server list

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw.decode('utf-8'))
        except ValueError:
            body = None
        self.requests.append({'path': self.path, 'headers': dict(self.headers.items()), 'body': body})
        if self.path.startswith('/fail/'):
            status, answer = 500, 'internal error while posting to %s' % self.path  # echoes the secret path
        elif self.path.startswith('/gone/'):
            status, answer = 404, 'no_service'
        else:
            status, answer = 200, 'ok'
        data = answer.encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Receiver(object):
    def __init__(self, tls_cert=None):
        self.requests = []
        handler = type('Receiver', (_Receiver,), {'requests': self.requests})
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), handler)
        self.httpd.daemon_threads = True
        if tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls_cert['cert'], tls_cert['key'])
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.origin = '%s://127.0.0.1:%d' % ('https' if tls_cert else 'http', self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()

    def url(self, kind='hooks'):
        return '%s/%s/%s' % (self.origin, kind, HOOK_SECRET)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope='module')
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(scope='module')
def receiver_tls(pki):
    server = Receiver(tls_cert=pki['valid'])
    yield server
    server.stop()


def assert_no_secret(text):
    assert HOOK_TOKEN not in text and HOOK_SECRET not in text, text


def notify(url, **kwargs):
    args = dict(url=url, event='start', site='divan.test', version='1.1.0', previous_version='1.0.0',
                hosts=['app1', 'app2'], deployed_by='alice', playbook='playbooks/deploy.yml')
    args.update(kwargs)
    return args


# ---------------------------------------------------------------- module_utils against the receiver


@pytest.mark.parametrize('event', dn.EVENT_NAMES)
def test_send_every_event(receiver, event):
    before = len(receiver.requests)
    payload = dn.build_message(event, 'divan.test', version='1.1.0', previous_version='1.0.0', hosts=['app1'],
                               deployed_by='alice', duration=12, detail='boom' if 'failure' in event else None)
    res = dn.send(receiver.url(), payload, timeout=5)
    assert res == {'status': 200, 'body': 'ok'}
    assert len(receiver.requests) == before + 1
    got = receiver.requests[-1]
    assert got['path'] == '/hooks/' + HOOK_SECRET
    assert got['headers']['Content-Type'].startswith('application/json')
    assert got['body'] == payload and got['body']['divan']['event'] == event
    assert got['body']['text'].startswith(dn.EVENTS[event][0] + ' divan.test: ')


def test_send_500_and_404_name_the_status_not_the_path(receiver):
    with pytest.raises(dn.NotifyError) as exc:
        dn.send(receiver.url('fail'), {'text': 'x'}, timeout=5)
    assert str(exc.value).startswith('webhook %s answered HTTP 500 (internal error while posting to '
                                     % receiver.origin)
    assert exc.value.status == 500
    assert_no_secret(str(exc.value))
    with pytest.raises(dn.NotifyError) as exc:
        dn.send(receiver.url('gone'), {'text': 'x'}, timeout=5)
    assert 'HTTP 404 (no_service); the webhook URL is wrong or was removed' in str(exc.value)


def test_send_https_with_the_test_ca(receiver_tls, pki):
    assert dn.send(receiver_tls.url(), {'text': 'x'}, timeout=5, ca_path=pki['ca'])['status'] == 200
    with pytest.raises(dn.NotifyError) as exc:
        dn.send(receiver_tls.url(), {'text': 'x'}, timeout=5)
    assert exc.value.kind == 'tls' and 'unable to get local issuer certificate' in str(exc.value)
    assert_no_secret(str(exc.value))
    assert dn.send(receiver_tls.url(), {'text': 'x'}, timeout=5, validate_certs=False)['status'] == 200


def test_send_connection_refused():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(dn.NotifyError) as exc:
        dn.send('http://127.0.0.1:%d/hooks/%s' % (port, HOOK_SECRET), {'text': 'x'}, timeout=3)
    assert str(exc.value) == 'cannot send to the webhook http://127.0.0.1:%d: connection refused' % port


# ---------------------------------------------------------------- the module through ansible


def test_module_sends_a_failure_without_secrets(receiver):
    before = len(receiver.requests)
    detail = 'at "Run the migrations": FATAL password authentication failed (%s) for postgresql://divan:%s@db/divan' \
        % (DB_PASSWORD, DB_PASSWORD)
    rc, result, output = run_module('deploy_notify', notify(receiver.url(), event='failure', duration=75.5,
                                                            detail=detail, secrets=[DB_PASSWORD]), verbosity=3)
    assert rc == 0, output
    assert result['sent'] is True and result['status'] == 200 and result['error'] is None
    assert result['changed'] is False and result['body'] == 'ok'
    assert result['webhook'] == receiver.origin
    assert len(receiver.requests) == before + 1
    got = receiver.requests[-1]['body']
    assert got == result['payload']
    assert got['text'] == (':x: divan.test: deploy of 1.1.0 by alice failed (from 1.0.0) on app1, app2 after 1m 16s: '
                           'at "Run the migrations": FATAL password authentication failed (***) for '
                           'postgresql://***@db/divan')
    assert got['divan'] == {'event': 'failure', 'site': 'divan.test', 'version': '1.1.0', 'previous_version': '1.0.0',
                            'hosts': ['app1', 'app2'], 'deployed_by': 'alice', 'playbook': 'playbooks/deploy.yml',
                            'duration_seconds': 75.5, 'detail': got['divan']['detail']}
    assert DB_PASSWORD not in json.dumps(receiver.requests[-1]) and DB_PASSWORD not in output
    assert_no_secret(output)
    assert_no_secret(json.dumps(result))


@pytest.mark.parametrize('event,emoji', [('start', ':rocket:'), ('success', ':white_check_mark:'),
                                         ('rollback', ':rewind:'), ('rollback_failure', ':rotating_light:')])
def test_module_sends_every_event(receiver, event, emoji):
    before = len(receiver.requests)
    rc, result, output = run_module('deploy_notify', notify(receiver.url(), event=event, duration=30))
    assert rc == 0, output
    assert result['sent'] is True and result['changed'] is False
    assert len(receiver.requests) == before + 1
    got = receiver.requests[-1]['body']
    assert got['divan']['event'] == event and got['text'].startswith('%s divan.test: ' % emoji)
    assert got['divan']['hosts'] == ['app1', 'app2'] and got['divan']['duration_seconds'] == 30.0


def test_module_500_does_not_fail_the_task_by_default(receiver):
    before = len(receiver.requests)
    rc, result, output = run_module('deploy_notify', notify(receiver.url('fail')), verbosity=3)
    assert rc == 0, output
    assert len(receiver.requests) == before + 1  # it was tried
    assert result['sent'] is False and result['status'] == 500 and result['error_kind'] == 'http'
    assert 'HTTP 500' in result['error'] and result['error'].startswith('webhook %s answered HTTP 500' % receiver.origin)
    assert not result.get('failed')
    assert any('deploy notification not sent: ' in w and 'HTTP 500' in w for w in result.get('warnings', []))
    assert result['payload']['divan']['event'] == 'start'
    assert_no_secret(output)
    assert_no_secret(json.dumps(result))


def test_module_500_fails_the_task_with_fail_on_error(receiver):
    rc, result, output = run_module('deploy_notify', notify(receiver.url('fail'), fail_on_error=True), verbosity=3)
    assert rc == 2, output
    assert result['failed'] is True and result['sent'] is False and result['status'] == 500
    assert 'HTTP 500' in result['msg'] and result['msg'] == result['error']
    assert 'Traceback' not in output
    assert_no_secret(output)
    assert_no_secret(json.dumps(result))


def test_module_check_mode_sends_nothing(receiver):
    before = len(receiver.requests)
    rc, result, output = run_module('deploy_notify', notify(receiver.url(), event='success'), check=True)
    assert rc == 0, output
    assert len(receiver.requests) == before
    assert result['sent'] is False and result['status'] is None and result['error'] is None
    assert result['payload']['text'].startswith(':white_check_mark: divan.test: deploy of 1.1.0 by alice succeeded')
    assert result['changed'] is False


def test_module_https_with_ca_path_and_a_tls_failure(receiver_tls, pki):
    before = len(receiver_tls.requests)
    rc, result, output = run_module('deploy_notify', notify(receiver_tls.url(), event='rollback',
                                                            ca_path=pki['ca']))
    assert rc == 0, output
    assert result['sent'] is True and len(receiver_tls.requests) == before + 1
    rc, result, output = run_module('deploy_notify', notify(receiver_tls.url(), event='rollback'))
    assert rc == 0, output
    assert result['sent'] is False and result['error_kind'] == 'tls'
    assert 'certificate verification failed' in result['error']
    assert_no_secret(output)


def test_module_bad_duration_fails_clearly(receiver):
    rc, result, output = run_module('deploy_notify', notify(receiver.url(), event='success', duration=-5))
    assert rc == 2, output
    assert 'duration must be a number of seconds >= 0' in result['msg']
    assert_no_secret(output)
