"""A WebSocket client (stdlib only) for the Caddy scenario.

    divan-ws-probe.py URL CA_FILE TRIGGER_FILE
    divan-ws-probe.py URL CA_FILE --whoami [COOKIE]

Opens a WebSocket through the proxy (TLS verified against CA_FILE), sends
"before" and reads the echo, writes "open" to stdout, then waits until
TRIGGER_FILE exists (at most 120 s), sends "after" on the same connection
and prints the echo. Each line is flushed so the test can follow it.
With --whoami it sends "whoami" instead, prints "echo <answer>" (the
stand-in's name and port) and exits; COOKIE is sent as the Cookie header of
the upgrade request.
"""

import base64
import os
import socket
import ssl
import struct
import sys
import time
from urllib.parse import urlsplit


def say(msg):
    print(msg, flush=True)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the proxy")
        buf += chunk
    return buf


def send_text(sock, text):
    data = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    if len(data) < 126:
        head += bytes([0x80 | len(data)])
    else:
        head += bytes([0x80 | 126]) + struct.pack("!H", len(data))
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def recv_text(sock):
    b1, b2 = recv_exact(sock, 2)
    length = b2 & 0x7F
    if length == 126:
        length = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", recv_exact(sock, 8))[0]
    data = recv_exact(sock, length)
    if b1 & 0x0F == 0x8:
        raise ConnectionError("close frame from the proxy")
    return data.decode()


def main(url, ca_file, trigger, cookie=""):
    parts = urlsplit(url)
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection((parts.hostname, parts.port or 443), timeout=30)
    sock = ctx.wrap_socket(raw, server_hostname=parts.hostname)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
    ) % ((parts.path or "/") + ("?" + parts.query if parts.query else ""), parts.hostname, key,
         "Cookie: %s\r\n" % cookie if cookie else "")
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += recv_exact(sock, 1)
    status = head.split(b"\r\n", 1)[0].decode()
    if " 101 " not in status + " ":
        say("handshake failed: %s" % status)
        return 1
    if trigger == "--whoami":
        send_text(sock, "whoami")
        say("echo %s" % recv_text(sock))
        return 0
    send_text(sock, "before")
    say("echo %s" % recv_text(sock))
    say("open")
    deadline = time.monotonic() + 120
    while not os.path.exists(trigger):
        if time.monotonic() > deadline:
            say("trigger never came")
            return 1
        time.sleep(0.2)
    try:
        send_text(sock, "after")
        say("echo %s" % recv_text(sock))
    except (ConnectionError, OSError) as exc:
        say("lost: %s" % exc)
        return 1
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
