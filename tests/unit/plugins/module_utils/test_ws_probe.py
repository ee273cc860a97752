# -*- coding: utf-8 -*-
"""WebSocket framing (RFC 6455 examples) and Engine.IO parsing, over socket pairs."""

import json
import socket
import struct
import threading

try:
    from urllib.parse import parse_qsl, urlsplit
except ImportError:  # pragma: no cover
    from urlparse import parse_qsl, urlsplit  # type: ignore

import pytest

from ansible_collections.divan.platform.plugins.module_utils import ws_probe as ws


def test_accept_key_rfc6455_example():
    # RFC 6455 section 1.3
    assert ws.accept_key('dGhlIHNhbXBsZSBub25jZQ==') == 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='


def test_masked_frame_rfc6455_example():
    # RFC 6455 section 5.7: a masked "Hello"
    frame = ws.encode_frame('Hello', mask_key=b'\x37\xfa\x21\x3d')
    assert frame == bytes([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
    assert ws.encode_frame('Hello', mask=False) == b'\x81\x05Hello'


@pytest.mark.parametrize('size,header_len', [(125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_length_encodings(size, header_len):
    frame = ws.encode_frame(b'x' * size, opcode=ws.OP_BINARY, mask=False)
    assert len(frame) == header_len + size
    a, b = socket.socketpair()
    try:
        b.sendall(frame)
        fin, opcode, payload = ws.FrameReader(a).frame()
        assert fin and opcode == ws.OP_BINARY and payload == b'x' * size
    finally:
        a.close()
        b.close()


def _reader_with(data):
    a, b = socket.socketpair()
    b.sendall(data)
    b.close()
    return a, ws.FrameReader(a)


def test_fragmented_message_and_ping_answered():
    data = (ws.encode_frame(b'ping!', ws.OP_PING, mask=False)
            + ws.encode_frame(b'hel', ws.OP_TEXT, mask=False, fin=False)
            + ws.encode_frame(b'lo', ws.OP_CONT, mask=False))
    a, b = socket.socketpair()
    b.sendall(data)
    reader = ws.FrameReader(a)
    assert reader.message(a) == (ws.OP_TEXT, b'hello')
    # the client answered the ping with a masked pong carrying the same payload
    raw = b.recv(64)
    assert raw[0] == 0x8A and raw[1] == 0x80 | 5
    mask = raw[2:6]
    assert bytes(c ^ mask[i % 4] for i, c in enumerate(raw[6:11])) == b'ping!'
    a.close()
    b.close()


def test_server_frames_must_not_be_masked():
    a, reader = _reader_with(ws.encode_frame('x', mask=True))
    with pytest.raises(ws.ProbeError, match='masked'):
        reader.frame()
    a.close()


def test_close_frame_and_closed_connection():
    a, reader = _reader_with(ws.encode_frame(struct.pack('!H', 1008), ws.OP_CLOSE, mask=False))
    with pytest.raises(ws.ProbeError, match='code 1008') as exc:
        reader.message(a)
    assert exc.value.kind == 'closed'
    a.close()
    a, reader = _reader_with(b'\x81')
    with pytest.raises(ws.ProbeError, match='connection closed'):
        reader.frame()
    a.close()


def _serve_once(response):
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(1)

    def run():
        conn, _unused = srv.accept()
        request = b''
        while b'\r\n\r\n' not in request:
            request += conn.recv(4096)
        key = [l.split(b': ', 1)[1] for l in request.split(b'\r\n') if l.lower().startswith(b'sec-websocket-key')][0]
        conn.sendall(response(key.decode()).encode())
        conn.close()
        srv.close()

    threading.Thread(target=run, daemon=True).start()
    return 'ws://127.0.0.1:%d/x' % srv.getsockname()[1]


@pytest.mark.parametrize('response,message', [
    (lambda k: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'answered HTTP 200 instead of 101'),
    (lambda k: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
               'Sec-WebSocket-Accept: wrong=\r\n\r\n', 'wrong Sec-WebSocket-Accept'),
    (lambda k: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n'
               'Sec-WebSocket-Accept: %s\r\n\r\n' % ws.accept_key(k), 'Upgrade header is not "websocket"'),
    (lambda k: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n'
               'Sec-WebSocket-Accept: %s\r\n\r\n' % ws.accept_key(k), 'Connection header does not contain'),
])
def test_handshake_failures(response, message):
    res = ws.websocket_check(_serve_once(response), timeout=5)
    assert not res['handshake'] and res['error_kind'] == 'handshake'
    assert message in res['failures'][0]


def test_handshake_success_without_message():
    url = _serve_once(lambda k: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                                'Sec-WebSocket-Accept: %s\r\n\r\n' % ws.accept_key(k))
    res = ws.websocket_check(url, timeout=5)
    assert res['handshake'] and res['failures'] == [] and res['echo_ok'] is None


def test_parse_eio_open():
    data = ws.parse_eio_open('0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000}\x1e40')
    assert data['sid'] == 'abc'
    for body, text in (('40', 'expected an OPEN packet'), ('0notjson', 'not JSON'), ('0{"upgrades":[]}', 'no sid')):
        with pytest.raises(ws.ProbeError, match=text):
            ws.parse_eio_open(body)


def test_socketio_urls():
    poll, base = ws._sio_urls('https://example.org:8443/ignored', 'socket.io', {'EIO': '4', 'transport': 'polling'})
    assert poll == 'https://example.org:8443/socket.io/?EIO=4&transport=polling'
    assert base == 'wss://example.org:8443/socket.io/'


def test_socketio_handshake_errors_from_stubbed_http():
    res = ws.socketio_check('https://example.org', http=lambda method, url, headers, body: (404, [], 'not found'))
    assert res['error_kind'] == 'handshake' and 'answered HTTP 404' in res['failures'][0]
    res = ws.socketio_check('https://example.org',
                            http=lambda method, url, headers, body: (200, [], '0{"sid":"x","upgrades":[]}'))
    assert res['sid_received'] and 'does not offer the websocket upgrade' in res['failures'][0]


# ---------------------------------------------------------------- close codes, greeting


def _unmask_frames(data):
    """Text payloads of the masked client frames in ``data`` (what a server reads)."""
    texts = []
    while len(data) >= 6:
        length = data[1] & 0x7F
        offset = 2
        if length == 126:
            length, offset = struct.unpack('!H', data[2:4])[0], 4
        mask, payload = data[offset:offset + 4], data[offset + 4:offset + 4 + length]
        if len(payload) < length:
            break
        if data[0] & 0x0F == ws.OP_TEXT:
            texts.append(bytes(c ^ mask[i % 4] for i, c in enumerate(payload)).decode())
        data = data[offset + 4 + length:]
    return texts


def _ws_server(script):
    """A WebSocket server for one connection: the handshake, then ``script(conn)``."""
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(1)

    def run():
        conn, _unused = srv.accept()
        request = b''
        while b'\r\n\r\n' not in request:
            request += conn.recv(4096)
        key = [l.split(b': ', 1)[1] for l in request.split(b'\r\n') if l.lower().startswith(b'sec-websocket-key')][0]
        conn.sendall(('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                      'Sec-WebSocket-Accept: %s\r\n\r\n' % ws.accept_key(key.decode())).encode())
        try:
            script(conn)
        finally:
            conn.close()
            srv.close()

    threading.Thread(target=run, daemon=True).start()
    return 'ws://127.0.0.1:%d/activities/session/x/stream' % srv.getsockname()[1]


def _close(code, reason=''):
    return lambda conn: conn.sendall(ws.encode_frame(struct.pack('!H', code) + reason.encode(), ws.OP_CLOSE,
                                                     mask=False))


def _read_text(conn):
    data = b''
    while not _unmask_frames(data):
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    return _unmask_frames(data)[0]


def test_expect_close_passes_on_that_code():
    res = ws.websocket_check(_ws_server(_close(1008, 'session_not_found')), expect_close=1008, timeout=5)
    assert res['failures'] == [] and res['handshake']
    assert res['close_code'] == 1008 and res['close_reason'] == 'session_not_found'


def test_expect_close_skips_messages_before_the_close():
    def script(conn):
        conn.sendall(ws.encode_frame('{"error":"session_not_found"}', mask=False))
        _close(1008)(conn)

    res = ws.websocket_check(_ws_server(script), expect_close=1008, timeout=5)
    assert res['failures'] == [] and res['close_code'] == 1008 and res['close_reason'] == ''


def test_expect_close_fails_on_another_code():
    res = ws.websocket_check(_ws_server(_close(1000, 'bye')), expect_close=1008, timeout=5)
    assert res['failures'] == ['WebSocket: the server closed with code 1000 bye, expected 1008']
    assert res['error_kind'] == 'close_code' and res['close_code'] == 1000


def test_expect_close_fails_without_a_close_frame():
    res = ws.websocket_check(_ws_server(lambda conn: None), expect_close=1008, timeout=5)
    assert res['failures'] == ['WebSocket: the connection ended without a close frame, expected close code 1008']


def test_expect_close_fails_when_the_server_keeps_the_session_open():
    # an unknown session accepted: the server greets and waits, it never closes
    done = threading.Event()

    def script(conn):
        conn.sendall(ws.encode_frame('{"session":"x","pid":7}', mask=False))
        done.wait(10)

    res = ws.websocket_check(_ws_server(script), expect_close=1008, timeout=1)
    done.set()
    assert res['failures'] == ['WebSocket: no close with code 1008 (timed out; 1 message(s) received)']
    assert res['close_code'] is None


def test_unexpected_close_names_code_and_reason():
    res = ws.websocket_check(_ws_server(_close(1008, 'session_not_found')), message='hello', timeout=5)
    assert res['failures'] == ['server closed the WebSocket (code 1008 session_not_found)']
    assert res['close_code'] == 1008 and res['echo_ok'] is None


def _greet_and_echo(greeting):
    def script(conn):
        conn.sendall(ws.encode_frame(greeting, mask=False))
        text = _read_text(conn)
        if text is not None:
            conn.sendall(ws.encode_frame(text, mask=False))
    return script


def test_greeting_then_echo():
    url = _ws_server(_greet_and_echo('{"session":"verify-abc","pid":42}'))
    res = ws.websocket_check(url, greeting='verify-abc', message='echo verify-abc', timeout=5)
    assert res['failures'] == [] and res['greeting_ok'] and res['echo_ok']


def test_greeting_mismatch_fails_before_sending():
    url = _ws_server(_greet_and_echo('{"session":"other","pid":42}'))
    res = ws.websocket_check(url, greeting='verify-abc', message='echo', timeout=5)
    assert res['greeting_ok'] is False and res['echo_ok'] is None
    assert res['failures'] == ["WebSocket: the first message from the server does not contain 'verify-abc' "
                               "(got 28 characters)"]


# ---------------------------------------------------------------- Socket.IO polls (stubbed processes)


class EngineProcess(object):
    """One python-socketio process without a shared manager: sessions live in its memory only."""

    def __init__(self, pid, upgrades=('websocket',)):
        self.pid = pid
        self.upgrades = list(upgrades)
        self.sessions = {}
        self.requests = 0

    def __call__(self, method, url, headers, body):
        self.requests += 1
        query = dict(parse_qsl(urlsplit(url).query))
        assert query['EIO'] == '4' and query['transport'] == 'polling'
        if 'sid' not in query:
            sid = 'sid-%d-%d' % (self.pid, len(self.sessions))
            self.sessions[sid] = {'queue': [], 'connected': False}
            return 200, [], '0' + json.dumps({'sid': sid, 'upgrades': self.upgrades, 'pingInterval': 25000})
        session = self.sessions.get(query['sid'])
        if session is None:
            return 400, [('Content-Type', 'text/plain')], json.dumps('Invalid session %s' % query['sid'])
        if method == 'POST':
            assert headers['Content-Type'].startswith('text/plain')
            for packet in body.split('\x1e'):
                if packet == '40':
                    session['connected'] = True
                    session['queue'].append('40{"sid":"nsp-%d"}' % self.pid)
                elif packet.startswith('42') and session['connected']:
                    ack_id = int(packet[2:packet.index('[')])
                    data = json.loads(packet[packet.index('['):])
                    assert data[0] == 'ping'
                    session['queue'].append('43%d%s' % (ack_id, json.dumps([{'pong': data[1], 'pid': self.pid}])))
            return 200, [], 'ok'
        assert session['queue'], 'a GET with nothing queued would block until the ping interval'
        packets, session['queue'] = session['queue'], []
        return 200, [], '\x1e'.join(packets)


class RoundRobin(object):
    """A proxy that sends each request to the next process (no sticky sessions)."""

    def __init__(self, *processes):
        self.processes = processes
        self.count = 0

    def __call__(self, method, url, headers, body):
        process = self.processes[self.count % len(self.processes)]
        self.count += 1
        return process(method, url, headers, body)


class Sticky(RoundRobin):
    """Caddy's lb_policy cookie: the first answer sets a cookie naming the process, later requests follow it."""

    def __call__(self, method, url, headers, body):
        cookies = dict(c.strip().split('=', 1) for c in headers.get('Cookie', '').split(';') if '=' in c)
        if 'lb' in cookies:
            return self.processes[int(cookies['lb'])](method, url, headers, body)
        index = self.count % len(self.processes)
        self.count += 1
        status, resp_headers, text = self.processes[index](method, url, headers, body)
        return status, resp_headers + [('Set-Cookie', 'lb=%d; Path=/; HttpOnly; Secure' % index)], text


class EveryOtherPollRefused(object):
    """Answers 400 "Invalid session" to every other poll (odd POSTs), as a half-sticky pool would."""

    def __init__(self, process):
        self.process = process
        self.posts = 0

    def __call__(self, method, url, headers, body):
        if method == 'POST' and body and '"ping"' in body:
            self.posts += 1
            if self.posts % 2:
                return 400, [], json.dumps('Invalid session %s' % dict(parse_qsl(urlsplit(url).query))['sid'])
        return self.process(method, url, headers, body)


def test_socketio_every_other_poll_refused_fails_with_the_count():
    process = EngineProcess(7, upgrades=())
    res = ws.socketio_check('https://divan.test', polls=20, http=EveryOtherPollRefused(process))
    assert res['sid_received'] and res['polls'] == 20 and res['polls_ok'] == 10
    assert res['poll_failures'] == {'400 Invalid session': 10}
    assert res['error_kind'] == 'poll' and len(res['failures']) == 1
    assert res['failures'][0].startswith('Socket.IO: 10 of 20 polls: 400 Invalid session (')
    assert res['pids'] == [7] and res['connected'] and not res['upgraded']


def test_socketio_two_processes_without_sticky_sessions_fail_every_poll():
    balancer = RoundRobin(EngineProcess(7), EngineProcess(8))
    res = ws.socketio_check('https://divan.test', polls=20, http=balancer)
    assert res['failures'][0].startswith('Socket.IO: 20 of 20 polls: 400 Invalid session')
    assert res['polls_ok'] == 0 and not res['connected'] and not res['upgraded']


def test_socketio_sticky_cookie_keeps_every_poll_on_one_process():
    a, b = EngineProcess(7, upgrades=()), EngineProcess(8, upgrades=())
    res = ws.socketio_check('https://divan.test', polls=20, http=Sticky(a, b))
    assert res['polls_ok'] == 20 and res['poll_failures'] == {} and res['pids'] == [7]
    assert res['connected'] and b.requests == 0
    # the polls passed; only the (stubbed away) websocket upgrade is missing
    assert res['failures'] == ['Engine.IO: the server does not offer the websocket upgrade']


def test_socketio_other_refusals_are_counted_by_reason():
    process = EngineProcess(7, upgrades=())
    answers = iter([(502, [], 'Bad Gateway'), (400, [], '"Invalid session x"')])

    def flaky(method, url, headers, body):
        if method == 'POST' and '"ping"' in (body or ''):
            refused = next(answers, None)
            if refused:
                return refused
        return process(method, url, headers, body)

    res = ws.socketio_check('https://divan.test', polls=5, http=flaky)
    assert res['poll_failures'] == {'HTTP 502': 1, '400 Invalid session': 1} and res['polls_ok'] == 3
    assert res['failures'][0].startswith('Socket.IO: 2 of 5 polls: 400 Invalid session (1), HTTP 502 (1) (')


def test_socketio_refused_namespace_over_polling():
    process = EngineProcess(7)

    def refuse(method, url, headers, body):
        status, resp_headers, text = process(method, url, headers, body)
        return status, resp_headers, text.replace('40{"sid":"nsp-7"}', '44{"message":"unauthorized"}')

    res = ws.socketio_check('https://divan.test', polls=3, http=refuse)
    assert res['error_kind'] == 'connect_error' and 'refused the connection' in res['failures'][0]


def test_poll_failure_reasons():
    assert ws.poll_failure(400, '"Invalid session AbC123"') == '400 Invalid session'
    assert ws.poll_failure(502, '<html>bad gateway</html>') == 'HTTP 502'
    assert ws._parse_ack('431[{"pong":1,"pid":9}]', '/') == (1, [{'pong': 1, 'pid': 9}])
    assert ws._parse_ack('43/chat,12[]', '/chat') == (12, [])
    assert ws._parse_ack('42["x"]', '/') is None


def test_socketio_poll_without_an_ack_ends_the_check():
    class NoPingHandler(EngineProcess):
        """No handler for the event: no ack; an idle long poll answers a noop."""

        def __call__(self, method, url, headers, body):
            if method == 'POST':
                body = '\x1e'.join(p for p in body.split('\x1e') if not p.startswith('42'))
            sid = dict(parse_qsl(urlsplit(url).query)).get('sid')
            if method == 'GET' and sid in self.sessions and not self.sessions[sid]['queue']:
                return 200, [], '6'
            return EngineProcess.__call__(self, method, url, headers, body)

    res = ws.socketio_check('https://divan.test', polls=3, http=NoPingHandler(7, upgrades=()))
    assert res['failures'] == ["Socket.IO: poll 1 of 3: no ack of event 'ping' in 20 answers"]
    assert res['polls_ok'] == 0 and res['connected'] and res['error_kind'] == 'protocol'
