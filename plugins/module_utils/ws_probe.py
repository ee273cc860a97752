# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WebSocket (RFC 6455) and Socket.IO (Engine.IO v4) client checks, standard library only.

WebSocket: opening handshake (101, Upgrade, Sec-WebSocket-Accept =
base64(SHA-1(key + GUID))), then optionally one text message that the
endpoint must echo. Client frames are masked, server frames must not be.

Socket.IO: Engine.IO v4 polling handshake
(``GET <path>?EIO=4&transport=polling`` answering ``0{"sid": ...}``), upgrade
of that session to a WebSocket (``2probe`` -> ``3probe``, then ``5``), then a
Socket.IO CONNECT to the namespace (``40`` -> ``40{"sid": ...}``).
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


class ProbeError(Exception):
    """A check failed; ``kind`` classifies it, the message says what happened."""

    def __init__(self, message, kind='protocol'):
        super(ProbeError, self).__init__(message)
        self.kind = kind


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
                code = struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else None
                raise ProbeError('server closed the WebSocket (code %s)' % code, 'closed')
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
                    ca_path=None, validate_certs=True, connect_host=None):
    """Handshake, optionally a text round trip.

    ``expect`` (default: ``message`` itself, i.e. an echo) must be contained in
    the first text message received after sending ``message``.
    Returns a dict: handshake (bool), latency_ms, roundtrip_ms, echo_ok, failures, error_kind.
    """
    result = {'handshake': False, 'status': None, 'latency_ms': None, 'roundtrip_ms': None,
              'echo_ok': None, 'failures': [], 'error_kind': None}
    ws = None
    try:
        ws = ws_connect(url, headers=headers, origin=origin, timeout=timeout, ca_path=ca_path,
                        validate_certs=validate_certs, connect_host=connect_host)
        result.update(handshake=True, status=ws.status, latency_ms=ws.latency_ms)
        if message is not None:
            started = time.monotonic()
            ws.send_text(message)
            received = ws.recv_text()
            result['roundtrip_ms'] = int((time.monotonic() - started) * 1000)
            wanted = message if expect is None else expect
            result['echo_ok'] = wanted in received
            if not result['echo_ok']:
                result['failures'].append('WebSocket: the reply to the test message does not contain the expected '
                                          'text (got %d characters)' % len(received))
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


def socketio_check(url, path='/socket.io/', namespace='/', headers=None, origin=None, timeout=10.0,
                   ca_path=None, validate_certs=True, connect_host=None, http_get=None):
    """Polling handshake, WebSocket upgrade, namespace connect.

    ``http_get(url, headers)`` returns (status, headers, body_text); the
    default uses http_probe.http_request (injected to keep this module
    importable on its own).
    Returns a dict: sid_received, upgraded, connected, latency_ms, failures, error_kind.
    """
    result = {'sid_received': False, 'upgrades': [], 'upgraded': False, 'connected': False,
              'latency_ms': None, 'failures': [], 'error_kind': None}
    ws = None
    started = time.monotonic()
    if http_get is None:
        from ansible_collections.divan.platform.plugins.module_utils.http_probe import simple_get

        def http_get(get_url, get_headers):
            return simple_get(get_url, get_headers, timeout=timeout, ca_path=ca_path,
                              validate_certs=validate_certs, connect_host=connect_host)
    try:
        poll_url, ws_base = _sio_urls(url, path, {'EIO': '4', 'transport': 'polling',
                                                  't': base64.urlsafe_b64encode(os.urandom(6)).decode('ascii')})
        req_headers = dict(headers or {})
        if origin:
            req_headers['Origin'] = origin
        status, resp_headers, body = http_get(poll_url, req_headers)
        if status != 200:
            raise ProbeError('Engine.IO polling handshake answered HTTP %d (is %s routed to the backend?)'
                             % (status, path), 'handshake')
        data = parse_eio_open(body)
        result['sid_received'] = True
        result['upgrades'] = list(data.get('upgrades') or [])
        result['ping_interval'] = data.get('pingInterval')
        if 'websocket' not in result['upgrades']:
            raise ProbeError('Engine.IO: the server does not offer the websocket upgrade', 'handshake')

        # keep cookies from the handshake (sticky sessions at a load balancer)
        cookies = []
        for k, v in resp_headers:
            if k.lower() == 'set-cookie':
                cookies.append(v.split(';', 1)[0].strip())
        ws_headers = dict(headers or {})
        if cookies:
            ws_headers['Cookie'] = '; '.join(cookies)
        ws_url = ws_base + '?' + urlencode({'EIO': '4', 'transport': 'websocket', 'sid': data['sid']})
        ws = ws_connect(ws_url, headers=ws_headers, origin=origin, timeout=timeout, ca_path=ca_path,
                        validate_certs=validate_certs, connect_host=connect_host)
        ws.send_text('2probe')
        reply = ws.recv_text()
        if reply != '3probe':
            raise ProbeError('Engine.IO upgrade: expected "3probe", got %r' % reply[:40], 'upgrade')
        ws.send_text('5')
        result['upgraded'] = True

        nsp = namespace or '/'
        ws.send_text('40' if nsp == '/' else '40%s,' % nsp)
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise ProbeError('Socket.IO: no CONNECT answer from namespace %s' % nsp, 'connect_timeout')
            packet = ws.recv_text()
            if packet.startswith('2'):  # Engine.IO ping
                ws.send_text('3' + packet[1:])
                continue
            if packet.startswith('6'):  # noop
                continue
            prefix = '40' if nsp == '/' else '40%s,' % nsp
            error_prefix = '44' if nsp == '/' else '44%s,' % nsp
            if packet.startswith(error_prefix):
                raise ProbeError('Socket.IO: namespace %s refused the connection (CONNECT_ERROR)' % nsp,
                                 'connect_error')
            if packet.startswith(prefix):
                try:
                    payload = json.loads(packet[len(prefix):] or '{}')
                except ValueError:
                    payload = {}
                result['connected'] = bool(isinstance(payload, dict) and payload.get('sid'))
                if not result['connected']:
                    raise ProbeError('Socket.IO: CONNECT answer without a sid', 'protocol')
                break
    except ProbeError as exc:
        result['error_kind'] = exc.kind
        result['failures'].append(str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        kind, text = describe_error(exc)
        result['error_kind'] = kind
        result['failures'].append('Socket.IO: %s' % text)
    finally:
        result['latency_ms'] = int((time.monotonic() - started) * 1000)
        if ws is not None:
            ws.close()
    return result
