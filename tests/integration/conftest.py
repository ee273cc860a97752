# -*- coding: utf-8 -*-
"""Real servers on 127.0.0.1 ephemeral ports for the verification modules' integration tests.

* a test PKI made with `cryptography`: CA, a valid leaf (127.0.0.1, localhost,
  divan.test), an expired leaf, a leaf that expires in 5 days;
* HTTPS servers (http.server + ssl): one with good security headers, one with
  none and a version-leaking Server header, one with the expired certificate;
  an HTTP server that redirects to the good one;
* uvicorn serving a python-socketio ASGI app with a raw WebSocket echo route,
  plain and TLS;
* aiosmtpd with STARTTLS + AUTH (and an implicit TLS one, and one without
  STARTTLS), recording the messages it receives;
* moto's ThreadedMotoServer (S3) with a private and a public-read bucket.

integration_helpers.py has the constants and `run_module` / `run_playbook`,
which drive ansible itself (subprocess) with the collection on
ANSIBLE_COLLECTIONS_PATH.
"""

import datetime
import ipaddress
import json
import os
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integration_helpers import (  # tests/integration/integration_helpers.py
    ADMIN_TOKEN,
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    SMTP_PASSWORD,
    SMTP_USER,
    UvicornServer,
)

GOOD_CSP = "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'"


# ---------------------------------------------------------------- PKI


@pytest.fixture(scope='session')
def pki(tmp_path_factory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    base = tmp_path_factory.mktemp('pki')
    now = datetime.datetime.now(datetime.timezone.utc)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(k, name):
        path = base / name
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        return str(path)

    def write_cert(c, name):
        path = base / name
        path.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        return str(path)

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'Divan Test CA')])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=400)).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    def leaf(name, not_before, not_after, dns=('localhost', 'divan.test')):
        k = key()
        sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[0])]))
                .issuer_name(ca_name).public_key(k.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        return {'cert': write_cert(cert, name + '.crt'), 'key': write_key(k, name + '.key'),
                'not_after': cert.not_valid_after_utc}

    return {
        'ca': write_cert(ca, 'ca.crt'),
        'valid': leaf('valid', now - datetime.timedelta(days=1), now + datetime.timedelta(days=90)),
        'expired': leaf('expired', now - datetime.timedelta(days=60), now - datetime.timedelta(days=3)),
        'expiring': leaf('expiring', now - datetime.timedelta(days=60), now + datetime.timedelta(days=5)),
        'dir': str(base),
    }


def server_context(cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert['cert'], cert['key'])
    return ctx


# ---------------------------------------------------------------- HTTP(S)


class _Handler(BaseHTTPRequestHandler):
    server_version = 'TestServer'
    sys_version = ''
    protocol_version = 'HTTP/1.1'
    extra_headers = ()
    counters = None  # per-server dict path -> hits

    def log_message(self, *args):  # quiet
        pass

    def version_string(self):
        return self.server_version

    def _send(self, status, body, content_type='text/html; charset=utf-8', headers=()):
        data = body.encode('utf-8') if isinstance(body, str) else body
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        for name, value in list(self.extra_headers) + list(headers):
            self.send_header(name, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def do_GET(self):
        path = self.path.split('?', 1)[0]
        hits = self.counters.setdefault(path, 0) + 1
        self.counters[path] = hits
        if path == '/health/ready':
            return self._send(200, json.dumps({'status': 'ok', 'checks': {'db': 'ok', 'redis': 'ok'},
                                               'workers': 3}), 'application/json')
        if path == '/health/degraded':
            return self._send(503, json.dumps({'status': 'degraded', 'checks': {'db': 'down'}}), 'application/json')
        if path == '/metrics':
            token = self.headers.get('X-Admin-Token')
            if token != self.server.admin_token:
                return self._send(403, 'forbidden', 'text/plain')
            return self._send(200, 'process_cpu_seconds_total 1.5\n', 'text/plain; version=0.0.4')
        if path == '/flaky':  # 503 twice, then 200
            if hits <= 2:
                return self._send(503, 'starting', 'text/plain')
            return self._send(200, json.dumps({'status': 'ok'}), 'application/json')
        if path == '/echo-headers':  # reflects the names of the request headers, never values
            return self._send(200, json.dumps(sorted(self.headers.keys())), 'application/json')
        if path == '/moved':
            return self._send(301, '', headers=[('Location', '/health/ready')])
        return self._send(200, '<!doctype html><title>Divan</title><p>hello</p>')

    do_HEAD = do_GET


GOOD_HEADERS = (
    ('Strict-Transport-Security', 'max-age=31536000; includeSubDomains'),
    ('Content-Security-Policy', GOOD_CSP),
    ('X-Frame-Options', 'DENY'),
    ('X-Content-Type-Options', 'nosniff'),
    ('Referrer-Policy', 'strict-origin-when-cross-origin'),
    ('Cross-Origin-Resource-Policy', 'same-origin'),
)
BAD_HEADERS = (
    ('X-Powered-By', 'Express 4.18.2'),
    ('Content-Security-Policy', "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'"),
    ('Set-Cookie', 'sessionid=abc; Path=/'),
)


class _Server(object):
    def __init__(self, headers=(), server_version='TestServer', tls_cert=None, admin_token=None):
        handler = type('Handler', (_Handler,), {'extra_headers': headers, 'server_version': server_version,
                                                'counters': {}})
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.admin_token = admin_token
        self.handler = handler
        if tls_cert:
            self.httpd.socket = server_context(tls_cert).wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = 'https' if tls_cert else 'http'
        self.url = '%s://127.0.0.1:%d' % (self.scheme, self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()

    @property
    def counters(self):
        return self.handler.counters

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope='session')
def https_good(pki):
    server = _Server(GOOD_HEADERS, server_version='', tls_cert=pki['valid'], admin_token=ADMIN_TOKEN)
    yield server
    server.stop()


@pytest.fixture(scope='session')
def https_bad(pki):
    server = _Server(BAD_HEADERS, server_version='nginx/1.18.0', tls_cert=pki['valid'])
    yield server
    server.stop()


@pytest.fixture(scope='session')
def https_expired(pki):
    server = _Server(GOOD_HEADERS, tls_cert=pki['expired'])
    yield server
    server.stop()


@pytest.fixture(scope='session')
def https_expiring(pki):
    server = _Server(GOOD_HEADERS, tls_cert=pki['expiring'])
    yield server
    server.stop()


class _RedirectHandler(BaseHTTPRequestHandler):
    target_port = 0  # set per server class by the redirect fixture
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith('/plain'):
            status, location = 200, None
        elif self.path.startswith('/temporary'):
            status, location = 302, 'https://127.0.0.1:%d%s' % (self.target_port, self.path)
        elif self.path.startswith('/elsewhere'):
            status, location = 301, 'https://other.invalid%s' % self.path
        else:
            status, location = 301, 'https://127.0.0.1:%d%s' % (self.target_port, self.path)
        self.send_response(status)
        if location:
            self.send_header('Location', location)
        self.send_header('Content-Length', '0')
        self.end_headers()


@pytest.fixture(scope='session')
def http_redirect(https_good):
    handler = type('RedirectHandler', (_RedirectHandler,), {'target_port': https_good.port})
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


# ---------------------------------------------------------------- WebSocket / Socket.IO (uvicorn)


def _asgi_app():
    import socketio

    sio = socketio.AsyncServer(async_mode='asgi', cors_allowed_origins='*')

    @sio.event
    async def connect(sid, environ, auth=None):
        return True

    @sio.on('connect', namespace='/private')
    async def private_connect(sid, environ, auth=None):
        return False  # refused: the client gets CONNECT_ERROR

    async def other(scope, receive, send):
        if scope['type'] == 'websocket':
            await receive()  # websocket.connect
            if scope['path'] == '/ws/reject':
                await send({'type': 'websocket.close', 'code': 1008})
                return
            await send({'type': 'websocket.accept'})
            while True:
                message = await receive()
                if message['type'] == 'websocket.disconnect':
                    return
                if scope['path'] == '/ws/upper':
                    await send({'type': 'websocket.send', 'text': (message.get('text') or '').upper()})
                else:
                    await send({'type': 'websocket.send', 'text': message.get('text')})
        elif scope['type'] == 'http':
            await send({'type': 'http.response.start', 'status': 200,
                        'headers': [(b'content-type', b'text/plain')]})
            await send({'type': 'http.response.body', 'body': b'activities-core ok'})

    return socketio.ASGIApp(sio, other_asgi_app=other)


@pytest.fixture(scope='session')
def realtime():
    server = UvicornServer(_asgi_app())
    yield server
    server.stop()


@pytest.fixture(scope='session')
def realtime_tls(pki):
    server = UvicornServer(_asgi_app(), tls_cert=pki['valid'])
    yield server
    server.stop()


# ---------------------------------------------------------------- SMTP (aiosmtpd)


def _free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class _MailHandler(object):
    def __init__(self):
        self.messages = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.startswith('blocked@'):
            return '550 5.7.1 Sender address rejected: not owned by user'
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return '250 OK'

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith('nobody@'):
            return '550 5.1.1 Recipient address rejected: user unknown'
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({'from': envelope.mail_from, 'to': list(envelope.rcpt_tos),
                              'data': envelope.content.decode('utf-8', 'replace')})
        return '250 Message accepted for delivery'


def _authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER \
            and auth_data.password.decode() == SMTP_PASSWORD:
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)


class _Smtp(object):
    def __init__(self, mode, pki):
        from aiosmtpd.controller import Controller

        self.handler = _MailHandler()
        self.port = _free_port()
        ctx = server_context(pki['valid'])
        kwargs = dict(hostname='127.0.0.1', port=self.port, authenticator=_authenticator,
                      server_hostname='mail.divan.test', ready_timeout=10)
        if mode == 'starttls':
            kwargs.update(tls_context=ctx, require_starttls=True, auth_required=True, auth_require_tls=True)
        elif mode == 'implicit':
            kwargs.update(ssl_context=ctx, auth_required=True, auth_require_tls=False)
        else:  # no STARTTLS offered at all
            kwargs.update(auth_required=False, auth_require_tls=False)
        self.controller = Controller(self.handler, **kwargs)
        self.controller.start()

    @property
    def messages(self):
        return self.handler.messages

    def stop(self):
        self.controller.stop()


@pytest.fixture(scope='session')
def smtp_starttls(pki):
    server = _Smtp('starttls', pki)
    yield server
    server.stop()


@pytest.fixture(scope='session')
def smtp_implicit(pki):
    server = _Smtp('implicit', pki)
    yield server
    server.stop()


@pytest.fixture(scope='session')
def smtp_plain(pki):
    server = _Smtp('plain', pki)
    yield server
    server.stop()


# ---------------------------------------------------------------- S3 (moto)


@pytest.fixture(scope='session')
def s3_server():
    os.environ.setdefault('AWS_EC2_METADATA_DISABLED', 'true')
    from moto.server import ThreadedMotoServer
    import boto3

    server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = 'http://%s:%d' % (host, port)
    client = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1',
                          aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY)
    client.create_bucket(Bucket='divan-uploads')
    client.create_bucket(Bucket='divan-public')
    client.put_bucket_policy(Bucket='divan-public', Policy=json.dumps({
        'Version': '2012-10-17',
        'Statement': [{'Effect': 'Allow', 'Principal': '*', 'Action': 's3:GetObject',
                       'Resource': 'arn:aws:s3:::divan-public/*'}],
    }))
    yield {'endpoint': endpoint, 'client': client}
    server.stop()
