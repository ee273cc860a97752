"""Steady-rate HTTPS load and WebSocket watcher through Caddy (tests and bench only).

Sends GET requests at --rate per second, round-robin over --path, to
https://--host (connecting to --connect, TLS verified against --ca) until the
file --stop-file exists (or --max-seconds pass), while --ws sessions stay
open on --ws-path and echo a message every --ws-interval seconds (the
other sessions' messages, which activities-core sends to every socket of
the activities session, are skipped). A session that drops reconnects at
once and the time to the next echo is recorded.
Prints one JSON object: requests sent/failed, failures by reason, GETs
re-sent once on a fresh connection after a kept-alive one was closed
under them (stale_keepalive_retries), latency percentiles (ms), WebSocket
drops, reconnect times (ms) and failed attempts by reason, and the
longest gap: the longest time (ms) with no successful response, i.e. the
largest interval between consecutive successful responses (the start and
the end of the load count as its edges), over all paths and per path, with
where it began (seconds after the start of the load).
Standard library only: runs on the bare Debian target.
"""
import argparse
import base64
import http.client
import json
import os
import queue
import socket
import ssl
import statistics
import struct
import threading
import time

p = argparse.ArgumentParser()
p.add_argument("--host", default="divan.test")
p.add_argument("--connect", default="127.0.0.1")
p.add_argument("--port", type=int, default=443)
p.add_argument("--ca", default="/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt")
p.add_argument("--rate", type=float, default=100.0)
p.add_argument("--path", action="append", default=[])
p.add_argument("--workers", type=int, default=32)
p.add_argument("--stop-file", default="/tmp/divan-loadgen.stop")
p.add_argument("--ready-file", default="/tmp/divan-loadgen.ready")
p.add_argument("--max-seconds", type=float, default=600)
p.add_argument("--ws", type=int, default=0, help="WebSocket sessions to keep open")
# An activities-core session stream: the session is created first (POST to
# the path without /stream), as the application does; an unknown one is
# closed with 1008.
p.add_argument("--ws-path", default="/activities/session/loadgen/stream")
p.add_argument("--ws-interval", type=float, default=0.5)
args = p.parse_args()
paths = args.path or ["/"]

ctx = ssl.create_default_context(cafile=args.ca)
lock = threading.Lock()
latencies, failures = [], {}
ok_times = []  # (monotonic time of each successful response, path)
sent = 0
stop = threading.Event()


def fail(reason):
    with lock:
        failures[reason] = failures.get(reason, 0) + 1


class Conn(http.client.HTTPSConnection):
    """HTTPS to --connect with SNI and Host of --host."""

    def connect(self):
        sock = socket.create_connection((args.connect, args.port), timeout=self.timeout)
        self.sock = ctx.wrap_socket(sock, server_hostname=args.host)


# A kept-alive connection the server closed while idle (Caddy does so on a
# graceful reload) fails the next request sent on it before any response
# byte. Like browsers and Go's client (RFC 9112, 9.3.1: an idempotent
# request may be retried on a new connection), the GET is sent once more on
# a fresh connection; such retries are counted, not hidden. A request that
# fails on a fresh connection, or after part of a response, is a failure.
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
stale_retries = {}


def get(conn, path):
    conn.request("GET", path, headers={"Host": args.host})
    resp = conn.getresponse()
    resp.read()
    return resp


def worker(jobs):
    conn = None
    reused = False
    while True:
        path = jobs.get()
        if path is None:
            return
        start = time.monotonic()
        try:
            if conn is None:
                conn, reused = Conn(args.host, args.port, timeout=30), False
            try:
                resp = get(conn, path)
            except STALE as exc:
                if not reused:
                    raise
                with lock:
                    key = "%s %s" % (type(exc).__name__, path)
                    stale_retries[key] = stale_retries.get(key, 0) + 1
                conn.close()
                conn = Conn(args.host, args.port, timeout=30)
                resp = get(conn, path)
            reused = True
            if resp.status != 200:
                fail("HTTP %d %s" % (resp.status, path))
            else:
                done = time.monotonic()
                with lock:
                    latencies.append((done - start) * 1000)
                    ok_times.append((done, path))
            if resp.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as exc:  # every error is a failed request
            fail("%s %s" % (type(exc).__name__, path))
            if conn is not None:
                conn.close()
            conn = None


# --- WebSocket (RFC 6455, text frames, client side) ---------------------------------

def ws_create_session():
    """POST the session the stream belongs to (201 created, 200 known)."""
    sock = ctx.wrap_socket(socket.create_connection((args.connect, args.port), timeout=10), server_hostname=args.host)
    try:
        sock.sendall(("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                      % (args.ws_path.rsplit("/stream", 1)[0], args.host)).encode())
        status = sock.recv(64).split(b" ", 2)[1]
    finally:
        sock.close()
    if status not in (b"200", b"201"):
        raise ConnectionError("session create: %s" % status.decode(errors="replace"))


def ws_open():
    if args.ws_path.endswith("/stream"):
        ws_create_session()
    sock = socket.create_connection((args.connect, args.port), timeout=10)
    sock = ctx.wrap_socket(sock, server_hostname=args.host)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (args.ws_path, args.host, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("closed during handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.split(b"\r\n")[0].decode(errors="replace"))
    return sock


def ws_recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def ws_recv(sock):
    b1, b2 = ws_recv_exact(sock, 2)
    length = b2 & 0x7F
    if length == 126:
        length = struct.unpack("!H", ws_recv_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", ws_recv_exact(sock, 8))[0]
    payload = ws_recv_exact(sock, length)
    if b1 & 0x0F == 8:
        raise ConnectionError("close frame")
    return payload.decode(errors="replace")


def ws_send(sock, text):
    data = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    if len(data) < 126:
        head += bytes([0x80 | len(data)])
    else:
        head += bytes([0x80 | 126]) + struct.pack("!H", len(data))
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


ws_stats = {"sessions": args.ws, "drops": 0, "reconnect_ms": [], "opened": 0, "drop_reasons": {}}


def ws_session(n):
    sock, dropped_at = None, None
    counter = 0
    while not stop.is_set():
        try:
            if sock is None:
                sock = ws_open()
                sock.settimeout(10)
                ws_recv(sock)  # hello
                with lock:
                    ws_stats["opened"] += 1
            counter += 1
            msg = "ping %d %d" % (n, counter)
            ws_send(sock, msg)
            # The sessions share one activities session, whose every message
            # goes to every socket of it on the process: the other sessions'
            # pings are skipped, anything else is a wrong echo.
            while True:
                reply = ws_recv(sock)
                if reply == msg:
                    break
                if not (reply.startswith("ping ") and not reply.startswith("ping %d " % n)):
                    raise ConnectionError("wrong echo")
            if dropped_at is not None:
                with lock:
                    ws_stats["reconnect_ms"].append(round((time.monotonic() - dropped_at) * 1000, 1))
                dropped_at = None
            stop.wait(args.ws_interval)
        except Exception as exc:
            reason = "%s: %s" % (type(exc).__name__, str(exc)[:60])
            with lock:
                ws_stats["drop_reasons"][reason] = ws_stats["drop_reasons"].get(reason, 0) + 1
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
            sock = None
            if dropped_at is None:
                dropped_at = time.monotonic()
                with lock:
                    ws_stats["drops"] += 1
            stop.wait(0.1)
    if sock is not None:
        sock.close()


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q / 100.0 * (len(values) - 1))))], 1)


def longest_gap(times, start, end):
    """(gap ms, its start in s after start): the largest interval between
    consecutive times, with start and end as the first and last edges."""
    edges = [start] + sorted(t for t in times if t >= start) + [end]
    gap, at = max((b - a, a) for a, b in zip(edges, edges[1:]))
    return round(gap * 1000, 1), round(at - start, 1)


def main():
    global sent
    for f in (args.stop_file, args.ready_file):
        if os.path.exists(f):
            os.remove(f)
    jobs = queue.Queue()
    threads = [threading.Thread(target=worker, args=(jobs,), daemon=True) for _unused in range(args.workers)]
    threads += [threading.Thread(target=ws_session, args=(i,), daemon=True) for i in range(args.ws)]
    for t in threads:
        t.start()
    # Wait until every WebSocket session is open before reporting ready.
    deadline = time.monotonic() + 30
    while ws_stats["opened"] < args.ws and time.monotonic() < deadline:
        time.sleep(0.1)
    open(args.ready_file, "w").close()
    start = time.monotonic()
    interval = 1.0 / args.rate
    nxt = start
    while not os.path.exists(args.stop_file) and time.monotonic() - start < args.max_seconds:
        now = time.monotonic()
        if now < nxt:
            time.sleep(min(nxt - now, 0.05))
            continue
        jobs.put(paths[sent % len(paths)])
        sent += 1
        nxt += interval
    end = time.monotonic()
    elapsed = end - start
    for _unused in range(args.workers):
        jobs.put(None)
    for t in threads[:args.workers]:
        t.join(60)
    stop.set()
    for t in threads[args.workers:]:
        t.join(15)
    failed = sum(failures.values())
    gap_ms, gap_at = longest_gap([t for t, _unused in ok_times], start, end)
    print(json.dumps({
        "requests_sent": sent,
        "requests_failed": failed,
        "requests_ok": len(latencies),
        "failures": failures,
        "stale_keepalive_retries": stale_retries,
        "seconds": round(elapsed, 1),
        "rate_per_s": round(sent / elapsed, 1) if elapsed else 0,
        "latency_ms": {"p50": pct(latencies, 50), "p99": pct(latencies, 99), "max": pct(latencies, 100),
                       "mean": round(statistics.mean(latencies), 1) if latencies else None},
        "longest_gap_ms": gap_ms,
        "longest_gap_start_s": gap_at,
        "longest_gap_by_path_ms": {x: longest_gap([t for t, q in ok_times if q == x], start, end)[0] for x in paths},
        "websocket": {"sessions": args.ws, "drops": ws_stats["drops"],
                      "reconnect_ms": ws_stats["reconnect_ms"],
                      # every failed attempt by reason (a drop may take several)
                      "errors": ws_stats["drop_reasons"]},
    }, sort_keys=True))


main()
