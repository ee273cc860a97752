"""A stand-in upstream for the Caddy scenario (stdlib only).

    divan-standin.py NAME PORT

Every GET answers 200 with JSON {"upstream": NAME, "port": PORT, "path":
<path as received>, "headers": {...}}, except paths containing "not-found"
(404). Under /uploads/ the Content-Type is guessed from the name, as the
backend does (an .html upload is served as text/html). A PUT reads the body
(Content-Length or chunked) and answers 201 with JSON {"upstream", "port",
"path", "received": <bytes read>}. A request that asks for a WebSocket
upgrade gets an RFC 6455 echo session: each text message comes back as
"NAME: <message>", except "whoami", answered "NAME PORT". The response
carries "Server: standin" so the tests can see that the proxy strips it.
"""

import base64
import hashlib
import json
import mimetypes
import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
NAME = sys.argv[1]
PORT = int(sys.argv[2])


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def read_frame(sock):
    b1, b2 = recv_exact(sock, 2)
    opcode = b1 & 0x0F
    length = b2 & 0x7F
    if length == 126:
        length = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", recv_exact(sock, 8))[0]
    mask = recv_exact(sock, 4) if b2 & 0x80 else b"\0\0\0\0"
    data = bytearray(recv_exact(sock, length))
    for i in range(length):
        data[i] ^= mask[i % 4]
    return opcode, bytes(data)


def send_frame(sock, opcode, data):
    head = bytes([0x80 | opcode])
    if len(data) < 126:
        head += bytes([len(data)])
    elif len(data) < 65536:
        head += bytes([126]) + struct.pack("!H", len(data))
    else:
        head += bytes([127]) + struct.pack("!Q", len(data))
    sock.sendall(head + data)


class Handler(BaseHTTPRequestHandler):
    server_version = "standin"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep the journal quiet
        pass

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        status = 404 if "not-found" in self.path else 200
        body = json.dumps({
            "upstream": NAME,
            "port": PORT,
            "path": self.path,
            "headers": dict(self.headers.items()),
        }).encode()
        content_type = "application/json"
        if self.path.startswith("/uploads/"):
            content_type = mimetypes.guess_type(self.path.split("?")[0])[0] or "application/octet-stream"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def read_body(self):
        """The request body's length in bytes, read to the end."""
        received = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return received
                received += len(self.rfile.read(size))
                self.rfile.readline()
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)
            received += len(chunk)
        return received

    def do_PUT(self):
        try:
            received = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        body = json.dumps({"upstream": NAME, "port": PORT, "path": self.path, "received": received}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        sock = self.connection
        sock.settimeout(None)
        try:
            while True:
                opcode, data = read_frame(sock)
                if opcode == 0x8:  # close
                    send_frame(sock, 0x8, data[:2])
                    break
                if opcode == 0x9:  # ping
                    send_frame(sock, 0xA, data)
                elif opcode == 0x1 and data == b"whoami":
                    send_frame(sock, 0x1, ("%s %d" % (NAME, PORT)).encode())
                elif opcode == 0x1:
                    send_frame(sock, 0x1, ("%s: " % NAME).encode() + data)
        except (ConnectionError, OSError):
            pass
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    address_family = socket.AF_INET


if __name__ == "__main__":
    Server(("127.0.0.1", PORT), Handler).serve_forever()
