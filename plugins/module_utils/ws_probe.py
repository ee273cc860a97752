# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WebSocket (RFC 6455) and Socket.IO (Engine.IO v4) client checks, standard library only.

WebSocket: opening handshake (101, Upgrade, Sec-WebSocket-Accept =
base64(SHA-1(key + GUID))), then optionally one text message that the
endpoint must echo. Client frames are masked, server frames must not be.

Socket.IO: Engine.IO v4 polling handshake
(``GET <path>?EIO=4&transport=polling`` answering ``0{"sid": ...}``), then
optionally ``polls`` follow-up long-polling round trips of that same session
(a Socket.IO CONNECT ``40`` with the first, then an event with an ack id
each, ``421["ping",...]`` -> ``431[...]``), keeping the cookies the server or
a proxy sets (a sticky-session cookie): every poll that lands on a process
that does not hold the session (``400 "Invalid session"``) is counted and
fails the check. Then the upgrade of that session to a WebSocket (``2probe``
-> ``3probe``, then ``5``) and a Socket.IO CONNECT to the namespace (``40``
-> ``40{"sid": ...}``), or with polls one more event acknowledged over the
WebSocket.
"""

import base64
import hashlib
import json
import os
import struct
import time

try:
    from urllib.parse import urlencode
except ImportError:  # pragma: no cover
    from urllib import urlencode  # type: ignore

from ansible_collections.divan.platform.plugins.module_utils.net import (
    TLS_SCHEMES,
    describe_error,
    host_header,
    make_ssl_context,
    open_connection,
    split_url,
)

WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_HEADER_BYTES = 65536
MAX_FRAME_BYTES = 1048576
MAX_GETS_PER_POLL = 20  # long-polling answers read while waiting for one poll's ack


class ProbeError(Exception):
    """A check failed; ``kind`` classifies it, the message says what happened."""

    def __init__(self, message, kind='protocol'):
        super(ProbeError, self).__init__(message)
        self.kind = kind


class WebSocketClosed(ProbeError):
    """The server sent a close frame: ``code`` (None when it gave none) and ``reason``."""

    def __init__(self, code, reason=''):
        text = 'server closed the WebSocket (code %s%s)' % (code, (' ' + reason) if reason else '')
        super(WebSocketClosed, self).__init__(text, 'closed')
        self.code = code
        self.reason = reason


def parse_close(payload):
    """(code, reason) of a close frame's payload (RFC 6455 5.5.1)."""
    if len(payload) < 2:
        return None, ''
    code = struct.unpack('!H', payload[:2])[0]
    return code, payload[2:].decode('utf-8', 'replace')


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode('ascii')).digest()).decode('ascii')


def encode_frame(payload, opcode=OP_TEXT, mask=True, fin=True, mask_key=None):
    if isinstance(payload, str):
        payload = payload.encode('utf-8')
    head = bytearray()
    head.append((0x80 if fin else 0) | opcode)
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head.append(mask_bit | length)
    elif length < 65536:
        head.append(mask_bit | 126)
        head += struct.pack('!H', length)
    else:
        head.append(mask_bit | 127)
        head += struct.pack('!Q', length)
    if not mask:
        return bytes(head) + payload
    mask_key = mask_key or os.urandom(4)
    masked = bytes(b ^ mask_key[i % 4] for i, b in enumerate(payload))
    return bytes(head) + mask_key + masked


class FrameReader(object):
    """Reads frames from a socket, starting with bytes already buffered."""

    def __init__(self, sock, buffered=b''):
        self.sock = sock
        self.buf = bytearray(buffered)

    def _read(self, count):
        while len(self.buf) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ProbeError('connection closed by the server', 'closed')
            self.buf += chunk
        data = bytes(self.buf[:count])
        del self.buf[:count]
        return data

    def frame(self):
        """One frame: (fin, opcode, payload)."""
        b1, b2 = self._read(2)
        fin = bool(b1 & 0x80)
        if b1 & 0x70:
            raise ProbeError('server frame has reserved bits set (unnegotiated extension)')
        opcode = b1 & 0x0F
        if b2 & 0x80:
            raise ProbeError('server frame is masked (RFC 6455 forbids it)')
        length = b2 & 0x7F
        if length == 126:
            length = struct.unpack('!H', self._read(2))[0]
        elif length == 127:
            length = struct.unpack('!Q', self._read(8))[0]
        if length > MAX_FRAME_BYTES:
            raise ProbeError('server frame larger than %d bytes' % MAX_FRAME_BYTES)
        return fin, opcode, self._read(length)

    def message(self, sock):
        """Next data message (opcode, bytes); answers pings, raises on close."""
        parts = []
        first_opcode = None
        while True:
            fin, opcode, payload = self.frame()
            if opcode == OP_PING:
                sock.sendall(encode_frame(payload, OP_PONG))
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                code, reason = parse_close(payload)
                raise WebSocketClosed(code, reason)
            if opcode == OP_CONT:
                if first_opcode is None:
                    raise ProbeError('continuation frame without a first frame')
            else:
                first_opcode = opcode
            parts.append(payload)
            if fin:
                return first_opcode, b''.join(parts)


def _read_http_head(sock):
    data = bytearray()
    while b'\r\n\r\n' not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ProbeError('connection closed before the handshake response', 'closed')
        data += chunk
        if len(data) > MAX_HEADER_BYTES:
            raise ProbeError('handshake response headers too large')
    head, rest = bytes(data).split(b'\r\n\r\n', 1)
    lines = head.decode('iso-8859-1').split('\r\n')
    status_line = lines[0].split(' ', 2)
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ProbeError('malformed handshake response status line')
    headers = []
    for line in lines[1:]:
        if ':' in line:
            k, v = line.split(':', 1)
            headers.append((k.strip(), v.strip()))
    return int(status_line[1]), headers, rest


def _get(headers, name):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


class WebSocket(object):
    """A minimal client connection (after a successful opening handshake)."""

    def __init__(self, sock, reader, status, headers, latency_ms):
        self.sock = sock
        self.reader = reader
        self.status = status
        self.headers = headers
        self.latency_ms = latency_ms

    def send_text(self, text):
        self.sock.sendall(encode_frame(text, OP_TEXT))

    def recv_text(self):
        opcode, payload = self.reader.message(self.sock)
        if opcode != OP_TEXT:
            raise ProbeError('expected a text message, got opcode %d' % opcode)
        try:
            return payload.decode('utf-8')
        except UnicodeDecodeError:
            raise ProbeError('text message is not valid UTF-8')

    def close(self):
        try:
            self.sock.sendall(encode_frame(struct.pack('!H', 1000), OP_CLOSE))
        except Exception:  # pylint: disable=broad-except
            pass
        try:
            self.sock.close()
        except Exception:  # pylint: disable=broad-except
            pass


def ws_connect(url, headers=None, origin=None, timeout=10.0, ca_path=None, validate_certs=True,
               connect_host=None, subprotocols=None):
    """Open a WebSocket; raises ProbeError (or a network error) when the handshake fails."""
    scheme, host, port, path = split_url(url)
    tls = scheme in TLS_SCHEMES
    key = base64.b64encode(os.urandom(16)).decode('ascii')
    started = time.monotonic()
    sock = open_connection(host, port, timeout, tls=tls,
                           context=make_ssl_context(validate_certs, ca_path) if tls else None,
                           connect_host=connect_host)
    try:
        lines = [
            'GET %s HTTP/1.1' % path,
            'Host: %s' % host_header(host, port, 'https' if tls else 'http'),
            'Upgrade: websocket',
            'Connection: Upgrade',
            'Sec-WebSocket-Key: %s' % key,
            'Sec-WebSocket-Version: 13',
            'User-Agent: divan.platform-http_check',
        ]
        if origin:
            lines.append('Origin: %s' % origin)
        if subprotocols:
            lines.append('Sec-WebSocket-Protocol: %s' % ', '.join(subprotocols))
        for name, value in (headers or {}).items():
            lines.append('%s: %s' % (name, value))
        sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode('utf-8'))
        status, resp_headers, rest = _read_http_head(sock)
        latency_ms = int((time.monotonic() - started) * 1000)
        if status != 101:
            raise ProbeError('WebSocket handshake answered HTTP %d instead of 101 (is the proxy forwarding the '
                             'Upgrade/Connection headers?)' % status, 'handshake')
        if (_get(resp_headers, 'upgrade') or '').lower() != 'websocket':
            raise ProbeError('WebSocket handshake: Upgrade header is not "websocket"', 'handshake')
        if 'upgrade' not in (_get(resp_headers, 'connection') or '').lower():
            raise ProbeError('WebSocket handshake: Connection header does not contain "Upgrade"', 'handshake')
        if _get(resp_headers, 'sec-websocket-accept') != accept_key(key):
            raise ProbeError('WebSocket handshake: wrong Sec-WebSocket-Accept', 'handshake')
        return WebSocket(sock, FrameReader(sock, rest), status, resp_headers, latency_ms)
    except Exception:
        sock.close()
        raise


def websocket_check(url, headers=None, origin=None, message=None, expect=None, timeout=10.0,
                    ca_path=None, validate_certs=True, connect_host=None, greeting=None, expect_close=None):
    """Handshake, optionally a greeting, a text round trip, and a close code.

    ``greeting``: text the first message the server sends after the handshake
    must contain (read before anything is sent). ``expect`` (default:
    ``message`` itself, i.e. an echo) must be contained in the first text
    message received after sending ``message``. ``expect_close``: the server
    must close the connection with this code (messages before the close are
    skipped); any other code, or no close within ``timeout``, fails.
    Returns a dict: handshake (bool), latency_ms, roundtrip_ms, greeting_ok, echo_ok, close_code,
    close_reason, failures, error_kind.
    """
    result = {'handshake': False, 'status': None, 'latency_ms': None, 'roundtrip_ms': None,
              'greeting_ok': None, 'echo_ok': None, 'close_code': None, 'close_reason': None,
              'failures': [], 'error_kind': None}
    ws = None
    try:
        ws = ws_connect(url, headers=headers, origin=origin, timeout=timeout, ca_path=ca_path,
                        validate_certs=validate_certs, connect_host=connect_host)
        result.update(handshake=True, status=ws.status, latency_ms=ws.latency_ms)
        if greeting is not None:
            first = ws.recv_text()
            result['greeting_ok'] = greeting in first
            if not result['greeting_ok']:
                raise ProbeError('WebSocket: the first message from the server does not contain %r (got %d characters)'
                                 % (greeting, len(first)), 'protocol')
        if message is not None:
            started = time.monotonic()
            ws.send_text(message)
            if expect_close is None:
                received = ws.recv_text()
                result['roundtrip_ms'] = int((time.monotonic() - started) * 1000)
                wanted = message if expect is None else expect
                result['echo_ok'] = wanted in received
                if not result['echo_ok']:
                    result['failures'].append('WebSocket: the reply to the test message does not contain the '
                                              'expected text (got %d characters)' % len(received))
        if expect_close is not None:
            _expect_close(ws, int(expect_close), result)
    except WebSocketClosed as exc:
        result.update(close_code=exc.code, close_reason=exc.reason, error_kind=exc.kind)
        result['failures'].append(str(exc))
    except ProbeError as exc:
        result['error_kind'] = exc.kind
        result['failures'].append(str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        kind, text = describe_error(exc)
        result['error_kind'] = kind
        result['failures'].append('WebSocket: %s' % text)
    finally:
        if ws is not None:
            ws.close()
    return result


def _expect_close(ws, code, result):
    """Read until the server closes; record the code; fail unless it is ``code``."""
    skipped = 0
    try:
        while True:
            ws.reader.message(ws.sock)
            skipped += 1
    except WebSocketClosed as exc:
        result.update(close_code=exc.code, close_reason=exc.reason)
        if exc.code != code:
            raise ProbeError('WebSocket: the server closed with code %s%s, expected %d'
                             % (exc.code, (' ' + exc.reason) if exc.reason else '', code), 'close_code')
    except ProbeError as exc:
        if exc.kind == 'closed':  # the TCP connection ended without a close frame
            raise ProbeError('WebSocket: the connection ended without a close frame, expected close code %d' % code,
                             'close_code')
        raise
    except Exception as exc:  # pylint: disable=broad-except
        kind, text = describe_error(exc)
        raise ProbeError('WebSocket: no close with code %d (%s; %d message(s) received)' % (code, text, skipped),
                         kind)


# ---------------------------------------------------------------- Socket.IO


def _sio_urls(url, path, params):
    scheme, host, port, _path = split_url(url)
    if not path.startswith('/'):
        path = '/' + path
    if not path.endswith('/'):
        path += '/'
    base = '%s://%s' % (scheme, host_header(host, port, scheme))
    query = urlencode(params)
    http_scheme = 'https' if scheme in TLS_SCHEMES else 'http'
    ws_scheme = 'wss' if scheme in TLS_SCHEMES else 'ws'
    return (base.replace(scheme + '://', http_scheme + '://', 1) + path + '?' + query,
            base.replace(scheme + '://', ws_scheme + '://', 1) + path)


def parse_eio_open(body):
    """Parse an Engine.IO v4 polling answer; returns the OPEN packet's JSON (dict)."""
    first = body.split('\x1e', 1)[0]
    if not first.startswith('0'):
        raise ProbeError('Engine.IO handshake: expected an OPEN packet ("0{...}"), got %r' % first[:40], 'handshake')
    try:
        data = json.loads(first[1:])
    except ValueError:
        raise ProbeError('Engine.IO handshake: OPEN packet is not JSON', 'handshake')
    if not isinstance(data, dict) or not data.get('sid'):
        raise ProbeError('Engine.IO handshake: OPEN packet has no sid', 'handshake')
    return data


def _cookie_pairs(resp_headers):
    """name=value of each Set-Cookie header (attributes dropped)."""
    pairs = []
    for k, v in resp_headers:
        if k.lower() == 'set-cookie':
            pair = v.split(';', 1)[0].strip()
            if '=' in pair:
                pairs.append(pair.split('=', 1))
    return pairs


class _Session(object):
    """The HTTP side of one Engine.IO polling session: its URLs, headers and the cookies it was given."""

    def __init__(self, http, poll_url, headers):
        self.http = http
        self.base_url = poll_url
        self.headers = dict(headers)
        self.cookies = {}
        self.sid = None

    def keep_cookies(self, resp_headers):
        for name, value in _cookie_pairs(resp_headers):
            self.cookies[name] = value

    def request_headers(self, extra=None):
        headers = dict(self.headers)
        if self.cookies:
            headers['Cookie'] = '; '.join('%s=%s' % kv for kv in self.cookies.items())
        headers.update(extra or {})
        return headers

    def url(self):
        return self.base_url + '&' + urlencode({'sid': self.sid, 't': base64.urlsafe_b64encode(os.urandom(6)).decode('ascii')})

    def call(self, method, body=None):
        extra = {'Content-Type': 'text/plain;charset=UTF-8'} if body is not None else None
        status, resp_headers, text = self.http(method, self.url(), self.request_headers(extra), body)
        self.keep_cookies(resp_headers)
        return status, text


def poll_failure(status, text):
    """A short, countable reason for a failed poll: ``400 Invalid session`` (session id dropped), ``HTTP 502``..."""
    if 'Invalid session' in (text or ''):
        return '%d Invalid session' % status
    return 'HTTP %d' % status


def _sio_prefix(kind, nsp):
    return kind if nsp == '/' else '%s%s,' % (kind, nsp)


def _parse_ack(packet, nsp):
    """(ack id, data list) of a Socket.IO ACK packet of namespace ``nsp``, else None."""
    prefix = _sio_prefix('43', nsp)
    if not packet.startswith(prefix):
        return None
    rest = packet[len(prefix):]
    digits = ''
    while rest and rest[0].isdigit():
        digits, rest = digits + rest[0], rest[1:]
    if not digits:
        return None
    try:
        data = json.loads(rest or '[]')
    except ValueError:
        data = []
    return int(digits), data if isinstance(data, list) else [data]


def _pid_of(data):
    first = data[0] if data else None
    if isinstance(first, dict) and first.get('pid') is not None:
        return first['pid']
    return None


def _handle_packet(packet, nsp, state):
    """Apply one Engine.IO packet from the server to ``state``; returns what the caller must send back, or None."""
    if packet.startswith('2'):  # Engine.IO ping: answer pong
        return '3' + packet[1:]
    if packet.startswith('6') or packet == '':  # noop
        return None
    if packet.startswith('1'):
        raise ProbeError('Engine.IO: the server closed the session', 'closed')
    if packet.startswith(_sio_prefix('44', nsp)):
        raise ProbeError('Socket.IO: namespace %s refused the connection (CONNECT_ERROR)' % nsp, 'connect_error')
    if packet.startswith(_sio_prefix('40', nsp)):
        try:
            payload = json.loads(packet[len(_sio_prefix('40', nsp)):] or '{}')
        except ValueError:
            payload = {}
        if not (isinstance(payload, dict) and payload.get('sid')):
            raise ProbeError('Socket.IO: CONNECT answer without a sid', 'protocol')
        state['connected'] = True
        return None
    ack = _parse_ack(packet, nsp)
    if ack is not None:
        state['acks'].add(ack[0])
        pid = _pid_of(ack[1])
        if pid is not None:
            state['pids'].add(pid)
    return None


def _event_packet(nsp, ack_id, event, number):
    data = {'probe': 'divan.platform.http_check', 'poll': number}
    return '%s%d%s' % (_sio_prefix('42', nsp), ack_id, json.dumps([event, data]))


def _run_polls(session, polls, nsp, event, state):
    """``polls`` round trips of the session: POST an event with ack id n (the CONNECT with it until one POST got
    through), then GET until its ack arrived. A poll fails when one of its requests is refused; returns
    {reason: count}. A poll whose ack never comes (timeout) ends the loop with a ProbeError."""
    failures = {}
    for number in range(1, polls + 1):
        packets = [] if state['connect_sent'] else [_sio_prefix('40', nsp)]
        packets.append(_event_packet(nsp, number, event, number))
        status, text = session.call('POST', '\x1e'.join(packets))
        if status != 200:
            reason = poll_failure(status, text)
            failures[reason] = failures.get(reason, 0) + 1
            continue
        state['connect_sent'] = True
        gets = 0
        while number not in state['acks']:
            gets += 1
            if gets > MAX_GETS_PER_POLL:
                raise ProbeError('Socket.IO: poll %d of %d: no ack of event %r in %d answers' % (
                    number, polls, event, MAX_GETS_PER_POLL), 'protocol')
            try:
                status, text = session.call('GET')
            except Exception as exc:  # pylint: disable=broad-except
                kind, msg = describe_error(exc)
                raise ProbeError('Socket.IO: poll %d of %d: no answer to event %r (%s); does the server acknowledge '
                                 'it?' % (number, polls, event, msg), 'poll_timeout' if msg == 'timed out' else kind)
            if status != 200:
                reason = poll_failure(status, text)
                failures[reason] = failures.get(reason, 0) + 1
                break
            for packet in text.split('\x1e'):
                reply = _handle_packet(packet, nsp, state)
                if reply is not None:
                    session.call('POST', reply)
    return failures


def socketio_check(url, path='/socket.io/', namespace='/', headers=None, origin=None, timeout=10.0,
                   ca_path=None, validate_certs=True, connect_host=None, polls=0, event='ping', http=None):
    """Polling handshake, optional follow-up polls of the session, WebSocket upgrade, namespace connect.

    ``polls``: that many long-polling round trips of the session after the
    handshake, each an ``event`` with an ack id that the server must
    acknowledge (the first also carries the namespace CONNECT); every poll a
    request of which is refused (e.g. ``400 Invalid session``: it reached a
    process that does not hold the session) is counted, and any fails the
    check (``N of M polls: 400 Invalid session``). Cookies the server sets are
    sent back on every later request (a proxy's sticky-session cookie).
    ``http(method, url, headers, body)`` returns (status, headers,
    body_text); the default uses http_probe.http_request (injected to keep
    this module importable on its own).
    Returns a dict: sid_received, polls, polls_ok, poll_failures, pids, upgraded, connected,
    latency_ms, failures, error_kind.
    """
    result = {'sid_received': False, 'upgrades': [], 'upgraded': False, 'connected': False,
              'polls': int(polls or 0), 'polls_ok': 0, 'poll_failures': {}, 'pids': [],
              'latency_ms': None, 'failures': [], 'error_kind': None}
    ws = None
    started = time.monotonic()
    if http is None:
        from ansible_collections.divan.platform.plugins.module_utils.http_probe import simple_request

        def http(method, req_url, req_headers, body):
            return simple_request(req_url, method=method, headers=req_headers, body=body, timeout=timeout,
                                  ca_path=ca_path, validate_certs=validate_certs, connect_host=connect_host)
    nsp = namespace or '/'
    state = {'connected': False, 'connect_sent': False, 'acks': set(), 'pids': set()}
    try:
        poll_url, ws_base = _sio_urls(url, path, {'EIO': '4', 'transport': 'polling'})
        req_headers = dict(headers or {})
        if origin:
            req_headers['Origin'] = origin
        session = _Session(http, poll_url, req_headers)
        handshake_url = poll_url + '&' + urlencode({'t': base64.urlsafe_b64encode(os.urandom(6)).decode('ascii')})
        status, resp_headers, body = http('GET', handshake_url, req_headers, None)
        session.keep_cookies(resp_headers)
        if status != 200:
            raise ProbeError('Engine.IO polling handshake answered HTTP %d (is %s routed to the backend?)'
                             % (status, path), 'handshake')
        data = parse_eio_open(body)
        session.sid = data['sid']
        result['sid_received'] = True
        result['upgrades'] = list(data.get('upgrades') or [])
        result['ping_interval'] = data.get('pingInterval')

        if result['polls'] > 0:
            failures = _run_polls(session, result['polls'], nsp, event, state)
            result['poll_failures'] = failures
            failed = sum(failures.values())
            result['polls_ok'] = result['polls'] - failed
            if failed:
                reasons = ', '.join('%s (%d)' % kv for kv in sorted(failures.items())) if len(failures) > 1 \
                    else list(failures)[0]
                raise ProbeError('Socket.IO: %d of %d polls: %s (follow-up requests of one session reached a process '
                                 'that does not hold it: sticky sessions at the proxy, one process per backend)'
                                 % (failed, result['polls'], reasons), 'poll')

        if 'websocket' not in result['upgrades']:
            raise ProbeError('Engine.IO: the server does not offer the websocket upgrade', 'handshake')

        ws_url = ws_base + '?' + urlencode({'EIO': '4', 'transport': 'websocket', 'sid': data['sid']})
        ws_headers = dict(headers or {})
        if session.cookies:
            ws_headers['Cookie'] = session.request_headers()['Cookie']
        ws = ws_connect(ws_url, headers=ws_headers, origin=origin, timeout=timeout, ca_path=ca_path,
                        validate_certs=validate_certs, connect_host=connect_host)
        ws.send_text('2probe')
        reply = ws.recv_text()
        if reply != '3probe':
            raise ProbeError('Engine.IO upgrade: expected "3probe", got %r' % reply[:40], 'upgrade')
        ws.send_text('5')
        result['upgraded'] = True

        if result['polls'] > 0:
            # the namespace is connected already: one more event, acknowledged over the WebSocket
            ack_id = result['polls'] + 1
            ws.send_text(_event_packet(nsp, ack_id, event, ack_id))
            waiting_for = 'the ack of event %r over the WebSocket' % event
        else:
            ws.send_text(_sio_prefix('40', nsp))
            waiting_for = 'a CONNECT answer from namespace %s' % nsp
        deadline = time.monotonic() + timeout
        while not (state['connected'] and (result['polls'] == 0 or result['polls'] + 1 in state['acks'])):
            if time.monotonic() > deadline:
                raise ProbeError('Socket.IO: no %s' % waiting_for, 'connect_timeout')
            answer = _handle_packet(ws.recv_text(), nsp, state)
            if answer is not None:
                ws.send_text(answer)
    except ProbeError as exc:
        result['error_kind'] = exc.kind
        result['failures'].append(str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        kind, text = describe_error(exc)
        result['error_kind'] = kind
        result['failures'].append('Socket.IO: %s' % text)
    finally:
        result['pids'] = sorted(state['pids'], key=str)
        result['connected'] = state['connected']
        result['latency_ms'] = int((time.monotonic() - started) * 1000)
        if ws is not None:
            ws.close()
    return result
