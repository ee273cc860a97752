# -*- coding: utf-8 -*-
"""WebSocket framing (RFC 6455 examples) and Engine.IO parsing, over socket pairs."""

import socket
import struct
import threading

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
    res = ws.socketio_check('https://example.org', http_get=lambda url, headers: (404, [], 'not found'))
    assert res['error_kind'] == 'handshake' and 'answered HTTP 404' in res['failures'][0]
    res = ws.socketio_check('https://example.org',
                            http_get=lambda url, headers: (200, [], '0{"sid":"x","upgrades":[]}'))
    assert res['sid_received'] and 'does not offer the websocket upgrade' in res['failures'][0]
