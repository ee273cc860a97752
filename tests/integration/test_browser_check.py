# -*- coding: utf-8 -*-
"""browser_check in a real headless chromium against a real HTTPS server on 127.0.0.1.

The server (http.server + ssl in a thread, the session's test CA and its
``divan.test`` certificate from the ``pki`` fixture) serves the frontend
stand-in as the proxy would: tests/fixtures/images/frontend/index.html.in
with its placeholders filled and the client chunk at
/_next/static/chunks/app.js, with the Content-Security-Policy the caddy role
ships (read from roles/caddy/defaults/main.yml) and its other security
headers. The URL is https://divan.test:<port>/ with connect_host 127.0.0.1,
so both the resolver mapping and the CA trust are exercised.

Skipped only when chromium is not installed.
"""

import json
import os
import ssl
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from integration_helpers import ROOT, run_module

from ansible_collections.divan.platform.plugins.module_utils import browser_probe

pytestmark = pytest.mark.skipif(not browser_probe.find_executable(browser_probe.CHROMIUM_NAMES),
                                reason='chromium is not installed (apt-get install chromium chromium-driver)')

FRONTEND = os.path.join(ROOT, 'tests', 'fixtures', 'images', 'frontend')
WINDOW = (1024, 700)
STRICT_CSP = "default-src 'self'; script-src 'none'"


def _server_context(cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert['cert'], cert['key'])
    return ctx


def _caddy_defaults():
    with open(os.path.join(ROOT, 'roles', 'caddy', 'defaults', 'main.yml')) as handle:
        return yaml.safe_load(handle)


def _frontend_page(backend_url):
    env = {'NEXT_PUBLIC_BACKEND_URL': backend_url, 'NEXT_PUBLIC_API_BASE_URL': backend_url + '/api/v1',
           'NEXT_PUBLIC_SOCKET_URL': backend_url, 'NEXT_PUBLIC_ENABLE_GO_LIVE': 'false'}
    with open(os.path.join(FRONTEND, 'index.html.in')) as handle:
        page = handle.read()
    return (page.replace('@NEXT_ENV@', json.dumps(env).replace('<', '\\u003c'))
            .replace('@VERSION@', '1.2.3-test').replace('@NEXT_PUBLIC_BACKEND_URL@', backend_url))


def _page(body, scripts=()):
    tags = ''.join('<script src="%s"></script>' % s for s in scripts)
    return '<!doctype html><html><head><meta charset="utf-8"><title>Divan</title>%s</head><body>%s</body></html>' % (
        tags, body)


class _Site(object):
    """The HTTPS site (several pages, one per case) and a plain HTTP server for the mixed content case."""

    def __init__(self, pki):
        defaults = _caddy_defaults()
        self.csp = ' '.join(defaults['caddy_content_security_policy'].split())
        security = [
            ('Strict-Transport-Security', 'max-age=31536000; includeSubDomains'),
            ('X-Content-Type-Options', 'nosniff'),
            ('X-Frame-Options', defaults['caddy_frame_options']),
            ('Referrer-Policy', defaults['caddy_referrer_policy']),
            ('Permissions-Policy', defaults['caddy_permissions_policy']),
        ]
        self.plain = ThreadingHTTPServer(('127.0.0.1', 0), self._plain_handler())
        self.plain_port = self.plain.server_address[1]
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), self._handler(security))
        self.httpd.socket = _server_context(pki['valid']).wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.origin = 'https://divan.test:%d' % self.port
        for server in (self.plain, self.httpd):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()

    def _handler(self, security):
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def send(self, status, body, content_type='text/html; charset=utf-8', csp=None):
                data = body.encode('utf-8')
                self.send_response(status)
                self.send_header('Content-Type', content_type)
                self.send_header('Content-Length', str(len(data)))
                for name, value in security:
                    self.send_header(name, value)
                if csp:
                    self.send_header('Content-Security-Policy', csp)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = self.path.split('?', 1)[0]
                front = _frontend_page(site.origin)
                if path == '/':
                    return self.send(200, front, csp=site.csp)
                if path == '/strict/':
                    return self.send(200, front, csp=STRICT_CSP)
                if path == '/mixed/':  # no CSP: upgrade-insecure-requests would hide the http:// image
                    return self.send(200, _page('<img src="http://divan.test:%d/x.png" alt="x">' % site.plain_port))
                if path == '/missing/':
                    return self.send(200, _page('<p>missing</p>', ['/_next/static/chunks/missing.js']), csp=site.csp)
                if path == '/console/':
                    return self.send(200, _page('<p>console</p>', ['/console.js']), csp=site.csp)
                if path == '/console.js':
                    return self.send(200, "console.error('divan-boom', 42);", 'application/javascript', csp=site.csp)
                if path == '/_next/static/chunks/app.js':
                    with open(os.path.join(FRONTEND, 'public', '_next', 'static', 'chunks', 'app.js')) as handle:
                        return self.send(200, handle.read(), 'application/javascript; charset=utf-8')
                return self.send(404, 'not found\n', 'text/plain')

        return Handler

    @staticmethod
    def _plain_handler():
        png = bytes.fromhex('89504e470d0a1a0a0000000d4948445200000001000000010806000000'
                            '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082')

        class Plain(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header('Content-Type', 'image/png')
                self.send_header('Content-Length', str(len(png)))
                self.end_headers()
                self.wfile.write(png)

        return Plain

    def url(self, path='/'):
        return self.origin + path

    def stop(self):
        for server in (self.httpd, self.plain):
            server.shutdown()
            server.server_close()


@pytest.fixture(scope='module')
def site(pki):
    server = _Site(pki)
    yield server
    server.stop()


def check(site, pki, path='/', **kwargs):
    params = {'url': site.url(path), 'connect_host': '127.0.0.1', 'ca_path': pki['ca'], 'settle': 0.3,
              'window_size': '%d,%d' % WINDOW}
    params.update(kwargs)
    return browser_probe.run_check(params)


def _png_size(path):
    with open(path, 'rb') as handle:
        head = handle.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    assert head[12:16] == b'IHDR'
    return struct.unpack('>II', head[16:24])


# ---------------------------------------------------------------- through ansible


def test_frontend_with_the_caddy_csp_passes_with_a_screenshot(site, pki, tmp_path):
    shot = tmp_path / 'shots' / 'frontend.png'
    rc, result, output = run_module('browser_check', {
        'url': site.url('/'), 'connect_host': '127.0.0.1', 'ca_path': pki['ca'], 'screenshot': str(shot),
        'window_size': '%d,%d' % WINDOW, 'settle': 0.5}, check=True)
    assert rc == 0, output
    assert result['passed'] and not result.get('failed'), result['failures']
    assert result['changed'] is False
    assert result['title'] == 'Divan'
    assert result['status'] == 200
    assert result['final_url'] == site.url('/')
    assert result['csp_violations'] == [] and result['console_errors'] == []
    assert result['failed_requests'] == [] and result['mixed_content'] == []
    assert result['requests'] >= 2  # the document and the client chunk
    assert result['error_kind'] is None
    assert result['browser_version'] and result['browser_version'][0].isdigit()
    assert result['screenshot'] == str(shot)
    assert _png_size(str(shot)) == WINDOW
    assert result['msg'].startswith('browser check of %s passed' % site.url('/'))


def test_script_src_none_is_a_csp_violation(site, pki):
    rc, result, output = run_module('browser_check', {
        'url': site.url('/strict/'), 'connect_host': '127.0.0.1', 'ca_path': pki['ca'], 'settle': 0.3})
    assert rc != 0 and result['failed'], output
    assert result['passed'] is False and result['error_kind'] is None
    directives = [v['effectiveDirective'] for v in result['csp_violations']]
    assert directives and all(d.startswith('script-src') for d in directives), result['csp_violations']
    blocked = [v['blockedURI'] for v in result['csp_violations']]
    assert 'inline' in blocked
    assert any(b.endswith('/_next/static/chunks/app.js') for b in blocked), blocked
    csp = [f for f in result['failures'] if 'Content-Security-Policy violation' in f]
    assert csp and csp[0].startswith('%d Content-Security-Policy violations: script-src' % len(directives))
    assert 'Content-Security-Policy' in result['msg']
    assert result['console_errors'] == []  # the CSP messages are not counted twice


def test_without_the_ca_the_certificate_is_refused(site, pki):
    rc, result, output = run_module('browser_check', {
        'url': site.url('/'), 'connect_host': '127.0.0.1', 'settle': 0})
    assert rc != 0 and result['failed'], output
    assert result['error_kind'] == 'load'
    assert result['status'] is None
    assert any('ERR_CERT' in f for f in result['failures']), result['failures']


def test_missing_chromedriver_says_what_to_install(site, pki, tmp_path):
    rc, result, output = run_module('browser_check', {
        'url': site.url('/'), 'chromedriver': str(tmp_path / 'no-chromedriver')})
    assert rc != 0 and result['failed'], output
    assert result['error_kind'] == 'missing'
    assert 'apt-get install chromium chromium-driver libnss3-tools' in result['msg']


# ---------------------------------------------------------------- run_check directly


def test_http_image_on_an_https_page_is_mixed_content(site, pki):
    result = check(site, pki, '/mixed/')
    assert not result['passed']
    urls = [m['url'] for m in result['mixed_content']]
    assert 'http://divan.test:%d/x.png' % site.plain_port in urls, result['mixed_content']
    assert any(f.startswith('1 mixed content request') for f in result['failures']), result['failures']
    assert result['csp_violations'] == []


def test_a_script_that_404s_is_a_failed_request(site, pki):
    result = check(site, pki, '/missing/')
    assert not result['passed']
    assert result['failed_requests'] == [{'url': site.url('/_next/static/chunks/missing.js'), 'type': 'Script',
                                          'status': 404, 'error': None, 'blocked_reason': None}]
    assert result['failures'] == ['1 failed request: %s HTTP 404' % site.url('/_next/static/chunks/missing.js')]
    assert result['console_errors'] == []  # "Failed to load resource" is that request, not a second problem
    ignored = check(site, pki, '/missing/', ignore_requests=[r'/missing\.js$'])
    assert ignored['passed'], ignored['failures']
    lenient = check(site, pki, '/missing/', fail_on_failed_requests=False)
    assert lenient['passed'] and lenient['failed_requests'], lenient


def test_console_error_is_reported(site, pki):
    result = check(site, pki, '/console/')
    assert not result['passed']
    assert len(result['console_errors']) == 1, result['console_errors']
    assert 'divan-boom' in result['console_errors'][0]['message']
    assert result['console_errors'][0]['source'] == 'console-api'
    assert result['failures'][0].startswith('1 console error: ')
    assert check(site, pki, '/console/', ignore_console=['divan-boom'])['passed']
