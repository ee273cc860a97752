"""Helpers of the Caddy scenario's tests: HTTPS requests and WebSocket
sessions made inside the target container (the stand-in upstreams and the
test domain live there), verified against the root certificate that the
role fetched to the controller."""

import json
import os
import shlex
import time
from pathlib import Path

import pytest

DOMAIN = "divan.test"
BASE_URL = "https://%s" % DOMAIN
CA_IN_TARGET = "/tmp/divan-fetched-root.crt"
FETCHED_ROOT = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "caddy-root.crt"
SECURITY_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    # the app asks for the browser's location: allowed for the site itself
    "permissions-policy": "camera=(), microphone=(), geolocation=(self), payment=(), usb=()",
}
# Caddy's admin API (caddy_admin_socket): root and the caddy user only. Caddy
# 2.6 takes only an empty Host on a socket (2.7 and later also 127.0.0.1).
ADMIN_SOCKET = "/run/caddy/admin.sock"
ADMIN_CURL = "curl -fsS --unix-socket %s -H 'Host;'" % ADMIN_SOCKET
# Caddy's own metrics listener (caddy_server_metrics_address).
SERVER_METRICS = "127.0.0.1:2020"
SITE_CSP_START = "default-src 'self'"
USER_CONTENT_CSP = ("sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; "
                    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def install_fetched_root(host):
    """Copy the root certificate the role fetched to the controller into the target."""
    assert FETCHED_ROOT.is_file(), "the role did not fetch the root CA to %s" % FETCHED_ROOT
    host.ansible("copy", "src=%s dest=%s mode=0644" % (FETCHED_ROOT, CA_IN_TARGET), check=False)
    return CA_IN_TARGET


def admin_config(host):
    """The running Caddy's configuration, read as root from the admin socket."""
    return host.check_output("%s http://localhost/config/" % ADMIN_CURL)


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%s %s %s>" % (self.status, self.headers, self.body[:200])


def request(host, url, *curl_args, ca=CA_IN_TARGET):
    """One request with curl in the target; no redirects followed (HTTP/2, so
    no interim 100 Continue heads)."""
    cmd = "curl -sS -i --max-time 30 --cacert %s %s %s" % (
        ca, " ".join(curl_args), shlex.quote(url))
    out = host.run(cmd)
    assert out.rc == 0, "%s: %s" % (cmd, out.stderr)
    head, _unused, body = out.stdout.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _unused, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return Response(int(lines[0].split()[1]), headers, body)


def assert_security_headers(resp, csp=None):
    """The headers every response carries; csp: the exact policy expected
    (default: the site's, a Next.js policy)."""
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == [value], (name, resp)
    policies = resp.headers.get("content-security-policy", [])
    assert len(policies) == 1, resp  # one policy, never the site's and another
    if csp is None:
        assert policies[0].startswith(SITE_CSP_START) and "frame-ancestors 'none'" in policies[0], resp
    else:
        assert policies[0] == csp, resp
    assert "server" not in resp.headers, resp


def ws_whoami(host, path, cookie=""):
    """One WebSocket through Caddy: the (name, port) of the stand-in that answered."""
    out = host.run("/usr/bin/python3 /usr/local/bin/divan-ws-probe.py %s %s --whoami %s"
                   % (shlex.quote("wss://" + DOMAIN + path), CA_IN_TARGET, shlex.quote(cookie)))
    assert out.rc == 0 and out.stdout.startswith("echo "), (path, out.stdout, out.stderr)
    name, port = out.stdout.split()[1:3]
    return name, int(port)


class WebSocketSession:
    """divan-ws-probe.py run as a transient unit in the target: it opens a
    WebSocket through Caddy, exchanges a message, then waits for a trigger
    file before it sends the second one on the same connection."""

    count = 0

    def __init__(self, host, path):
        WebSocketSession.count += 1
        self.host = host
        self.unit = "divan-ws-probe-%d-%d" % (os.getpid(), WebSocketSession.count)
        self.out = "/tmp/%s.out" % self.unit
        self.trigger = "/tmp/%s.go" % self.unit
        host.run_test(
            "systemd-run --quiet --collect --unit %s -p StandardOutput=file:%s -p StandardError=file:%s "
            "/usr/bin/python3 /usr/local/bin/divan-ws-probe.py %s %s %s"
            % (self.unit, self.out, self.out, shlex.quote("wss://" + DOMAIN + path), CA_IN_TARGET, self.trigger))
        self.wait_for("open")

    def output(self):
        return self.host.run("cat %s" % self.out).stdout

    def wait_for(self, word, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output()
            if word in text or "lost" in text or "failed" in text:
                break
            time.sleep(0.2)
        text = self.output()
        if word not in text:
            pytest.fail("WebSocket probe: expected %r, got %r" % (word, text))
        return text

    def finish(self):
        """Send the second message; the probe's full output."""
        self.host.run_test("touch %s" % self.trigger)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = self.output()
            if "done" in text or "lost" in text:
                return text
            time.sleep(0.2)
        return self.output()
