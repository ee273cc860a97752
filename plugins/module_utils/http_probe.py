# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP probes for http_check: request, assertions, retries (standard library, jmespath for JSON assertions).

A probe is a dict (see ``PROBE_DEFAULTS``); ``run_probe`` runs it with
retries and returns a result dict with ``passed``, ``failures`` and
``latency_ms``. Request header values are never part of a result.
"""

import json
import time

try:
    import http.client as http_client
    from urllib.parse import urljoin, urlsplit, urlunsplit
except ImportError:  # pragma: no cover
    import httplib as http_client  # type: ignore
    from urlparse import urljoin, urlsplit, urlunsplit  # type: ignore

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    jmespath = None
    HAS_JMESPATH = False

from ansible_collections.divan.platform.plugins.module_utils import security_headers as sech
from ansible_collections.divan.platform.plugins.module_utils.net import (
    TLS_SCHEMES,
    describe_error,
    host_header,
    make_ssl_context,
    open_connection,
    redact_url,
    split_url,
)
from ansible_collections.divan.platform.plugins.module_utils.tls_probe import check_tls
from ansible_collections.divan.platform.plugins.module_utils.ws_probe import socketio_check, websocket_check

PROBE_DEFAULTS = {
    'name': None,
    'url': None,
    'method': 'GET',
    'headers': None,
    'body': None,
    'status': [200],
    'json': None,
    'body_contains': None,
    'request': True,
    'timeout': 10.0,
    'retries': 0,
    'delay': 1.0,
    'backoff': 2.0,
    'deadline': None,
    'follow_redirects': False,
    'ca_path': None,
    'validate_certs': True,
    'connect_host': None,
    'security_headers': False,
    'security_headers_ignore': None,
    'min_grade': None,
    'redirect_https': False,
    'http_port': None,
    'tls': False,
    'min_days_valid': 14,
    'websocket': False,
    'ws_message': None,
    'ws_expect': None,
    'ws_greeting': None,
    'ws_expect_close': None,
    'origin': None,
    'socketio': False,
    'socketio_path': '/socket.io/',
    'socketio_namespace': '/',
    'socketio_polls': 20,
    'socketio_event': 'ping',
    'body_equals': None,
    'user_content': False,
}
# methods that change nothing on the server (the only ones sent in check mode)
SAFE_METHODS = ('GET', 'HEAD', 'OPTIONS')
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
PERMANENT_REDIRECTS = (301, 308)
MAX_BODY_BYTES = 1048576
MAX_DELAY = 60.0
# request headers that are not sent on to another host when following a redirect
CREDENTIAL_HEADERS = ('authorization', 'cookie', 'x-admin-token', 'proxy-authorization')


class Response(object):
    def __init__(self, status, reason, headers, body, url, chain, latency_ms):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.url = url
        self.chain = chain
        self.latency_ms = latency_ms

    def header(self, name):
        return sech.first_header(self.headers, name)


class _Connection(http_client.HTTPConnection):
    """HTTP(S) connection that may dial ``connect_host`` while speaking to ``host`` (SNI, Host)."""

    def __init__(self, host, port, timeout, tls, context, connect_host):
        http_client.HTTPConnection.__init__(self, host, port, timeout=timeout)
        self._tls = tls
        self._context = context
        self._connect_host = connect_host

    def connect(self):
        self.sock = open_connection(self.host, self.port, self.timeout, tls=self._tls,
                                    context=self._context, connect_host=self._connect_host)


def http_request(url, method='GET', headers=None, body=None, timeout=10.0, ca_path=None, validate_certs=True,
                 connect_host=None, follow_redirects=False, max_redirects=10, max_body=MAX_BODY_BYTES):
    """One HTTP request (following redirects when asked). Raises ValueError or network errors."""
    chain = []
    current, cur_method, cur_body = url, method.upper(), body
    first_host = split_url(url)[1]
    headers = dict(headers or {})
    started = time.monotonic()
    for _hop in range(max_redirects + 1):
        scheme, host, port, path = split_url(current)
        if scheme not in ('http', 'https'):
            raise ValueError('cannot send an HTTP request to a %s:// URL' % scheme)
        tls = scheme == 'https'
        same_host = host == first_host
        conn = _Connection(host, port, timeout, tls, make_ssl_context(validate_certs, ca_path) if tls else None,
                           connect_host if same_host else None)
        send = {'Host': host_header(host, port, scheme), 'User-Agent': 'divan.platform-http_check',
                'Accept': '*/*', 'Connection': 'close'}
        for name, value in headers.items():
            if same_host or name.lower() not in CREDENTIAL_HEADERS:
                send[name] = str(value)
        payload = cur_body.encode('utf-8') if isinstance(cur_body, str) else cur_body
        try:
            conn.request(cur_method, path, body=payload, headers=send)
            resp = conn.getresponse()
            data = resp.read(max_body)
            resp_headers = resp.getheaders()
            status, reason = resp.status, resp.reason
        finally:
            conn.close()
        location = sech.first_header(resp_headers, 'location')
        chain.append({'url': redact_url(current), 'status': status, 'location': redact_url(location or '') or None})
        if follow_redirects and status in REDIRECT_STATUSES and location:
            current = urljoin(current, location)
            if status == 303 or (status in (301, 302) and cur_method == 'POST'):
                cur_method, cur_body = 'GET', None
            continue
        latency = int((time.monotonic() - started) * 1000)
        return Response(status, reason, resp_headers, data, current, chain, latency)
    raise ValueError('more than %d redirects' % max_redirects)


def simple_request(url, method='GET', headers=None, body=None, timeout=10.0, ca_path=None, validate_certs=True,
                   connect_host=None):
    """(status, headers, body_text) of one request; used by the Socket.IO polling requests."""
    resp = http_request(url, method=method, headers=headers, body=body, timeout=timeout, ca_path=ca_path,
                        validate_certs=validate_certs, connect_host=connect_host)
    return resp.status, resp.headers, resp.body.decode('utf-8', 'replace')


def simple_get(url, headers=None, timeout=10.0, ca_path=None, validate_certs=True, connect_host=None):
    """(status, headers, body_text) of a GET."""
    return simple_request(url, headers=headers, timeout=timeout, ca_path=ca_path, validate_certs=validate_certs,
                          connect_host=connect_host)


# ---------------------------------------------------------------- assertions


def _same(actual, expected):
    if isinstance(actual, bool) or isinstance(expected, bool):  # True == 1 in Python, not in JSON
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if actual == expected:
        return True
    if isinstance(expected, str) and not isinstance(actual, (dict, list)):
        return str(actual) == expected
    return False


def _short(value, limit=80):
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + '...'


def check_json(body, assertions):
    """Failures for ``{jmespath_expression: expected_value}`` against a JSON body."""
    if not assertions:
        return []
    if not HAS_JMESPATH:
        return ['JSON assertions need the jmespath Python library on the host that runs the module']
    try:
        data = json.loads(body.decode('utf-8') if isinstance(body, bytes) else body)
    except (ValueError, UnicodeDecodeError):
        return ['body is not JSON, cannot evaluate %d JSON assertion(s)' % len(assertions)]
    failures = []
    for expr, expected in assertions.items():
        try:
            actual = jmespath.search(expr, data)
        except Exception as exc:  # pylint: disable=broad-except  # jmespath raises its own error types
            failures.append('JSON assertion %r is not a valid JMESPath expression (%s)' % (expr, type(exc).__name__))
            continue
        if not _same(actual, expected):
            failures.append('JSON %s: expected %s, got %s' % (expr, _short(expected), _short(actual)))
    return failures


def check_body(body, needles):
    if not needles:
        return []
    if isinstance(needles, str):
        needles = [needles]
    text = body.decode('utf-8', 'replace') if isinstance(body, bytes) else body
    return ['body does not contain %r' % n for n in needles if n not in text]


def check_body_equals(body, expected):
    if expected is None:
        return []
    wanted = expected.encode('utf-8') if isinstance(expected, str) else expected
    if body != wanted:
        return ['body is not the expected %d bytes (got %d bytes%s)'
                % (len(wanted), len(body), ', same length' if len(body) == len(wanted) else '')]
    return []


def _csp_sandboxed(headers):
    for value in sech.header_values(headers, 'content-security-policy'):
        for directive in value.split(';'):
            tokens = directive.strip().lower().split()
            if tokens and tokens[0] == 'sandbox':
                return True
    return False


def check_user_content(headers):
    """(info, failures): a response of user-supplied content must not run as the site.

    It needs a Content-Security-Policy with a ``sandbox`` directive or a
    ``Content-Disposition: attachment``, and ``X-Content-Type-Options: nosniff``.
    """
    disposition = (sech.first_header(headers, 'content-disposition') or '').strip().lower()
    info = {'content_type': sech.first_header(headers, 'content-type'),
            'csp_sandbox': _csp_sandboxed(headers),
            'attachment': disposition.startswith('attachment'),
            'nosniff': (sech.first_header(headers, 'x-content-type-options') or '').strip().lower() == 'nosniff'}
    failures = []
    if not (info['csp_sandbox'] or info['attachment']):
        failures.append('user content: served as %s inline without Content-Security-Policy: sandbox or '
                        'Content-Disposition: attachment (a script in an upload runs as the site)'
                        % (info['content_type'] or 'no content type'))
    if not info['nosniff']:
        failures.append('user content: X-Content-Type-Options is not "nosniff"')
    return info, failures


def check_status(status, expected):
    expected = [int(s) for s in (expected or [200])]
    if status not in expected:
        return ['HTTP status %d, expected %s' % (status, ' or '.join(str(s) for s in expected))]
    return []


# ---------------------------------------------------------------- redirect


def http_equivalent(url, http_port=None):
    parts = urlsplit(url)
    if parts.scheme == 'http':
        return url
    netloc = parts.hostname if ':' not in (parts.hostname or '') else '[%s]' % parts.hostname
    if http_port:
        netloc += ':%d' % int(http_port)
    return urlunsplit(('http', netloc, parts.path, parts.query, ''))


def check_redirect_https(url, timeout=10.0, connect_host=None, http_port=None):
    """Check that the http:// form of ``url`` answers 301/308 to its https:// equivalent.

    Returns (info, failures); ``info`` feeds the Observatory redirection test.
    """
    http_url = http_equivalent(url, http_port)
    _scheme, host, _port, path = split_url(http_url)
    info = {'url': redact_url(http_url), 'status': None, 'location': None, 'same_host': False,
            'final_https': False, 'no_http': False}
    try:
        resp = http_request(http_url, timeout=timeout, connect_host=connect_host)
    except Exception as exc:  # pylint: disable=broad-except
        kind, text = describe_error(exc)
        if kind == 'config':
            return info, ['redirect: %s' % text]
        info['no_http'] = True
        return info, ['redirect: %s is not reachable (%s); serve a redirect to https on port 80'
                      % (redact_url(http_url), text)]
    info['status'] = resp.status
    location = resp.header('location')
    failures = []
    if resp.status not in REDIRECT_STATUSES or not location:
        info['location'] = None
        return info, ['redirect: %s answered HTTP %d without redirecting; redirect it to https with 301 or 308'
                      % (redact_url(http_url), resp.status)]
    target = urljoin(http_url, location)
    info['location'] = redact_url(target)
    t = urlsplit(target)
    info['final_https'] = t.scheme == 'https'
    info['same_host'] = (t.hostname or '').lower() == host.lower()
    if resp.status not in PERMANENT_REDIRECTS:
        failures.append('redirect: HTTP %d is not a permanent redirect; use 301 or 308' % resp.status)
    if t.scheme != 'https':
        failures.append('redirect: Location is not an https:// URL')
    elif not info['same_host']:
        failures.append('redirect: Location points to another host; redirect to https on the same host first')
    t_path = (t.path or '/') + ('?' + t.query if t.query else '')
    if t_path != path:
        failures.append('redirect: Location drops or changes the path (%s -> %s)' % (path, t_path))
    return info, failures


# ---------------------------------------------------------------- probes


def normalize_probe(probe):
    p = dict(PROBE_DEFAULTS)
    p.update(dict((k, v) for k, v in probe.items() if v is not None))
    if not p.get('url'):
        raise ValueError('a probe needs a url')
    p['name'] = p['name'] or redact_url(p['url'])
    return p


def _attempt(p):
    url = p['url']
    res = {'name': p['name'], 'url': redact_url(url), 'passed': False, 'failures': [], 'latency_ms': None,
           'status': None, 'error_kind': None}
    failures = res['failures']
    try:
        scheme = split_url(url)[0]
    except ValueError as exc:
        res['error_kind'] = 'config'
        failures.append('url: %s' % exc)
        return res
    target = url
    redirect = None
    if p['redirect_https']:
        redirect, rfail = check_redirect_https(url, timeout=p['timeout'], connect_host=p['connect_host'],
                                               http_port=p['http_port'])
        res['redirect'] = redirect
        failures.extend(rfail)
        if scheme == 'http':
            target = redirect['location'] if redirect.get('final_https') else None

    common = dict(timeout=p['timeout'], ca_path=p['ca_path'], validate_certs=p['validate_certs'],
                  connect_host=p['connect_host'])
    if p['websocket']:
        ws = websocket_check(url, headers=p['headers'], origin=p['origin'], message=p['ws_message'],
                             expect=p['ws_expect'], greeting=p['ws_greeting'], expect_close=p['ws_expect_close'],
                             **common)
        res['websocket'] = ws
        res['latency_ms'] = ws['latency_ms']
        res['status'] = ws['status']
        res['error_kind'] = ws['error_kind']
        failures.extend(ws['failures'])
    elif p['socketio']:
        sio = socketio_check(url, path=p['socketio_path'], namespace=p['socketio_namespace'],
                             headers=p['headers'], origin=p['origin'], polls=int(p['socketio_polls'] or 0),
                             event=p['socketio_event'], **common)
        res['socketio'] = sio
        res['latency_ms'] = sio['latency_ms']
        res['error_kind'] = sio['error_kind']
        failures.extend(sio['failures'])
        # once a session exists, a failure is a finding about that session (a poll that reached another
        # process), never something to retry away: only a failed handshake may be retried
        res['retryable'] = not sio['sid_received']
    elif target and p['request']:
        headers = dict(p['headers'] or {})
        if p['security_headers'] and not any(k.lower() == 'origin' for k in headers):
            headers['Origin'] = sech.PROBE_ORIGIN
        try:
            resp = http_request(target, method=p['method'], headers=headers, body=p['body'],
                                follow_redirects=p['follow_redirects'], **common)
        except Exception as exc:  # pylint: disable=broad-except
            kind, text = describe_error(exc)
            res['error_kind'] = kind
            failures.append('HTTP: %s' % text)
        else:
            res['status'] = resp.status
            res['latency_ms'] = resp.latency_ms
            res['final_url'] = redact_url(resp.url)
            res['content_type'] = resp.header('content-type')
            if len(resp.chain) > 1:
                res['redirects'] = resp.chain[:-1]
            failures.extend(check_status(resp.status, p['status']))
            failures.extend(check_body(resp.body, p['body_contains']))
            failures.extend(check_body_equals(resp.body, p['body_equals']))
            failures.extend(check_json(resp.body, p['json']))
            if p['user_content']:
                info, ufail = check_user_content(resp.headers)
                res['user_content'] = info
                failures.extend(ufail)
            if p['security_headers']:
                analysis = sech.analyze(resp.headers, https=resp.url.lower().startswith('https://'),
                                        verified=bool(p['validate_certs']), redirect=redirect,
                                        ignore=p['security_headers_ignore'] or (), min_grade=p['min_grade'])
                res['security_headers'] = analysis
                failures.extend('headers: %s' % f for f in analysis['failures'])

    tls_url = target if not (p['websocket'] or p['socketio']) else url
    if p['tls']:
        try:
            t_scheme, t_host, t_port, _path = split_url(tls_url) if tls_url else (None, None, None, None)
        except ValueError:
            t_scheme = None
        if t_scheme not in TLS_SCHEMES:
            failures.append('TLS: the probe URL is not https:// or wss://')
        else:
            tls = check_tls(t_host, t_port, ca_path=p['ca_path'], validate_certs=p['validate_certs'],
                            min_days_valid=p['min_days_valid'], timeout=p['timeout'],
                            connect_host=p['connect_host'])
            res['tls'] = tls
            failures.extend('TLS: %s' % f for f in tls['failures'])
            res['error_kind'] = res['error_kind'] or tls['error_kind']
    res['passed'] = not failures
    return res


def run_probe(probe, sleep=time.sleep, clock=time.monotonic):
    """Run a probe, retrying with exponential backoff until it passes, retries are spent or the deadline passes."""
    try:
        p = normalize_probe(probe)
    except ValueError as exc:
        return {'name': probe.get('name') or probe.get('url'), 'url': redact_url(probe.get('url') or ''),
                'passed': False, 'failures': [str(exc)], 'latency_ms': None, 'attempts': 0, 'error_kind': 'config'}
    started = clock()
    delay = float(p['delay'])
    attempts = 0
    while True:
        attempts += 1
        result = _attempt(p)
        retryable = result.pop('retryable', True)
        if result['passed'] or attempts > int(p['retries']):
            break
        if not retryable:
            result['failures'].append('not retried: the Socket.IO session existed (retries cover a failed handshake only)')
            break
        if p['deadline'] is not None and (clock() - started) + delay > float(p['deadline']):
            result['failures'].append('deadline of %ss reached after %d attempt(s)' % (p['deadline'], attempts))
            break
        sleep(delay)
        delay = min(delay * float(p['backoff']), MAX_DELAY)
    result['attempts'] = attempts
    return result


def summarize(results):
    failed = [r for r in results if not r['passed']]
    parts = ['%s: %s' % (r['name'], '; '.join(r['failures'])) for r in failed]
    return '%d of %d probe(s) failed: %s' % (len(failed), len(results), ' | '.join(parts)) if failed else \
        'all %d probe(s) passed' % len(results)
