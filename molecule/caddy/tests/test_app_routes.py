"""The routes the Divan application needs beyond path -> upstream, checked
with real requests through the converged Caddy (two stand-ins per upstream,
each answering with its port):

- user uploads never run as the site (sandbox policy instead of the site's,
  nosniff, attachment for active types, the app's 5 MiB body limit as 413);
- Socket.IO sticks to one backend replica by Caddy's cookie;
- activities sessions are routed by their id, plain and WebSocket, the same
  way on any proxy with the same upstream list.
"""

import json
import os
import shlex

import pytest
import testinfra.utils.ansible_runner

from caddyprobe import (
    BASE_URL, USER_CONTENT_CSP, assert_security_headers, install_fetched_root,
    request, ws_whoami,
)

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

BACKENDS = {8000, 8001}
ACTIVITIES = ["127.0.0.1:3001", "127.0.0.1:3003"]  # caddy_upstreams in vars/main.yml
UPLOAD_LIMIT = 5 * 1024 * 1024  # the backend's own limit (caddy_user_content_max_body_bytes)
SESSION_IDS = ["game-%d" % i for i in range(1, 9)]


@pytest.fixture(scope="module", autouse=True)
def fetched_root(host):
    return install_fetched_root(host)


def port_of(resp):
    assert resp.status == 200, resp
    return resp.json()["port"]


def caddy_minor(host):
    version = host.check_output("caddy version").split()[0].lstrip("v")
    return tuple(int(x) for x in version.split(".")[:2])


# ------------------------------------------------------------ user content

@pytest.mark.parametrize("path,content_type", [
    ("/uploads/u1/page.html", "text/html"),
    ("/uploads/u1/PAGE.HTM", "text/html"),
    ("/uploads/avatars/x.svg", "image/svg+xml"),
    ("/uploads/a/b/c/doc.xhtml", "application/xhtml+xml"),
    ("/uploads/x.xml", None),
    ("/uploads/x.js", None),
    ("/uploads/x.mjs", None),
])
def test_active_upload_is_a_sandboxed_attachment(host, path, content_type):
    resp = request(host, BASE_URL + path)
    assert resp.status == 200, resp
    if content_type:  # what the backend (and the stand-in) guesses from the name
        assert resp.headers["content-type"][0].startswith(content_type), resp
    # the sandbox policy instead of the site's (exactly one policy), nosniff, the other headers
    assert_security_headers(resp, csp=USER_CONTENT_CSP)
    assert resp.headers.get("content-disposition") == ["attachment"], resp


def test_head_of_an_active_upload_is_an_attachment_too(host):
    resp = request(host, BASE_URL + "/uploads/u1/page.html", "-I")
    assert resp.status == 200, resp
    assert resp.headers.get("content-disposition") == ["attachment"], resp
    assert resp.headers.get("content-security-policy") == [USER_CONTENT_CSP], resp


@pytest.mark.parametrize("path", ["/uploads/avatars/a.png", "/uploads/x.html.png", "/uploads/photo.jpg"])
def test_image_upload_is_inline_but_sandboxed(host, path):
    resp = request(host, BASE_URL + path)
    assert resp.status == 200, resp
    assert resp.headers["content-type"][0].startswith("image/"), resp
    assert "content-disposition" not in resp.headers, resp
    assert_security_headers(resp, csp=USER_CONTENT_CSP)


@pytest.mark.parametrize("path", ["/", "/uploadsx/page.html", "/dashboard/page.html"])
def test_site_content_keeps_the_site_policy(host, path):
    resp = request(host, BASE_URL + path)
    assert resp.status == 200, resp
    assert_security_headers(resp)  # the site's policy, not the sandbox
    assert "content-disposition" not in resp.headers, resp


def test_uploads_behind_the_api_prefix_are_sent_to_the_uploads_route(host):
    # /api/* strips its prefix: /api/uploads/x would be the backend's
    # /uploads/x without the user content protections.
    resp = request(host, BASE_URL + "/api/uploads/u1/page.html?v=2")
    assert resp.status == 308, resp
    assert resp.headers["location"] == ["/uploads/u1/page.html?v=2"], resp
    assert "upstream" not in resp.body


def make_file(host, size):
    path = "/tmp/divan-upload-%d.bin" % size
    host.run_test("test -s %s || head -c %d /dev/zero > %s" % (path, size, path))
    return path


@pytest.mark.parametrize("size,chunked,status", [
    (UPLOAD_LIMIT, False, 201),
    (UPLOAD_LIMIT + 1, False, 413),
    (6 * 1000 * 1000, False, 413),
    (UPLOAD_LIMIT, True, 201),
    (UPLOAD_LIMIT + 1, True, 413),  # no Content-Length: cut by request_body
    (6 * 1000 * 1000, True, 413),
])
def test_upload_body_limit(host, size, chunked, status):
    src = make_file(host, size)
    # -T file declares the length; -T - (stdin) streams it without one
    args = ("-T - < %s" % src) if chunked else ("-T %s" % src)
    cmd = "curl -sS -i --max-time 60 --cacert /tmp/divan-fetched-root.crt %s %s" % (
        args, shlex.quote(BASE_URL + "/uploads/limit/%d.bin" % size))
    out = host.run(cmd)
    assert out.rc == 0, out.stderr
    head, _unused, body = out.stdout.partition("\r\n\r\n")
    assert head.split()[1] == str(status), out.stdout[:500]
    if status == 201:
        assert json.loads(body)["received"] == size, body
    else:
        assert body.strip() == "413 Request Entity Too Large", body
        assert "upstream" not in body
        assert "content-security-policy: " + USER_CONTENT_CSP.lower() in head.lower(), head


# ---------------------------------------------------------------- Socket.IO

def test_socketio_cookie_keeps_one_client_on_one_backend(host):
    first = request(host, BASE_URL + "/socket.io/?EIO=4&transport=polling")
    cookies = [c for c in first.headers.get("set-cookie", []) if c.startswith("divan_sio=")]
    assert cookies, first
    cookie = cookies[0].split(";")[0]
    pinned = port_of(first)
    seen = {port_of(request(host, BASE_URL + "/socket.io/?EIO=4&transport=polling&t=%d" % i,
                            "-H %s" % shlex.quote("Cookie: " + cookie)))
            for i in range(20)}
    assert seen == {pinned}, (cookie, seen)
    # the upgrade of the same client reaches the same process
    assert ws_whoami(host, "/socket.io/?EIO=4&transport=websocket", cookie) == ("backend", pinned)


def test_socketio_without_the_cookie_spreads_over_the_backends(host):
    # What the cookie prevents: without it, requests land on both replicas
    # (random choice: 20 requests on one of two hosts has odds 2^-19).
    seen = {port_of(request(host, BASE_URL + "/socket.io/?EIO=4&transport=polling&n=%d" % i)) for i in range(20)}
    assert seen == BACKENDS, seen


# ----------------------------------------------------- activities sessions

def session_ports(host, session_id):
    plain = {port_of(request(host, BASE_URL + "/activities/session/%s" % session_id)) for _attempt in range(6)}
    # a client's own routing header changes nothing
    plain |= {port_of(request(host, BASE_URL + "/activities/session/%s" % session_id,
                              "-H 'X-Divan-Route-Key: %s'" % other)) for other in ("a", "b", "zz")}
    stream = {ws_whoami(host, "/activities/session/%s/stream" % session_id)[1] for _attempt in range(3)}
    return plain, stream


def test_one_activities_session_always_reaches_the_same_instance(host):
    chosen = {}
    for session_id in SESSION_IDS:
        plain, stream = session_ports(host, session_id)
        assert len(plain) == 1 and plain == stream, (session_id, plain, stream)
        chosen[session_id] = plain.pop()
    # several ids use both instances: the id, not a fixed host, decides
    assert set(chosen.values()) == {3001, 3003}, chosen


def test_other_activities_requests_are_balanced(host):
    seen = {port_of(request(host, BASE_URL + "/activities/catalog?i=%d" % i)) for i in range(4)}
    assert seen == {3001, 3003}, seen


def test_routing_key_header_does_not_reach_the_upstream(host):
    data = request(host, BASE_URL + "/activities/session/game-1", "-H 'X-Divan-Route-Key: x'").json()
    assert "X-Divan-Route-Key" not in data["headers"], data


def fnv1a32(data):
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


MASK64 = (1 << 64) - 1
XXH_P1, XXH_P2, XXH_P3, XXH_P4, XXH_P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                                          0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)


def _rotl64(value, bits):
    return ((value << bits) | (value >> (64 - bits))) & MASK64


def _xxh_round(acc, lane):
    return (_rotl64((acc + lane * XXH_P2) & MASK64, 31) * XXH_P1) & MASK64


def xxh64(data, seed=0):
    """XXH64 (seed 0 in Caddy), as github.com/cespare/xxhash computes it."""
    size, pos = len(data), 0
    if size >= 32:
        acc = [(seed + XXH_P1 + XXH_P2) & MASK64, (seed + XXH_P2) & MASK64, seed, (seed - XXH_P1) & MASK64]
        while pos + 32 <= size:
            for lane in range(4):
                acc[lane] = _xxh_round(acc[lane], int.from_bytes(data[pos + 8 * lane:pos + 8 * lane + 8], "little"))
            pos += 32
        value = (_rotl64(acc[0], 1) + _rotl64(acc[1], 7) + _rotl64(acc[2], 12) + _rotl64(acc[3], 18)) & MASK64
        for lane in acc:
            value = ((value ^ _xxh_round(0, lane)) * XXH_P1 + XXH_P4) & MASK64
    else:
        value = (seed + XXH_P5) & MASK64
    value = (value + size) & MASK64
    while pos + 8 <= size:
        value ^= _xxh_round(0, int.from_bytes(data[pos:pos + 8], "little"))
        value = (_rotl64(value, 27) * XXH_P1 + XXH_P4) & MASK64
        pos += 8
    if pos + 4 <= size:
        value ^= (int.from_bytes(data[pos:pos + 4], "little") * XXH_P1) & MASK64
        value = (_rotl64(value, 23) * XXH_P2 + XXH_P3) & MASK64
        pos += 4
    for byte in data[pos:]:
        value ^= (byte * XXH_P5) & MASK64
        value = (_rotl64(value, 11) * XXH_P1) & MASK64
    value ^= value >> 33
    value = (value * XXH_P2) & MASK64
    value ^= value >> 29
    value = (value * XXH_P3) & MASK64
    return value ^ (value >> 32)


def test_xxh64_matches_its_reference_values():
    assert xxh64(b"") == 0xEF46DB3751D8E999
    assert xxh64(b"abc") == 0x44BC2CF5AD770999


def test_session_host_is_a_function_of_id_and_address_list(host):
    """The header policy is rendezvous hashing (read from Caddy's source,
    confirmed here): Caddy 2.6 takes FNV-1a of key + address, 2.7 and later
    XXH64 of address + key. Any proxy with the same Caddy and the same
    address list, in any order, picks the same host for an id."""
    old = caddy_minor(host)[:2] == (2, 6)

    def weight(addr, sid):
        return fnv1a32((sid + addr).encode()) if old else xxh64((addr + sid).encode())

    for session_id in SESSION_IDS:
        expected = max(ACTIVITIES, key=lambda addr, sid=session_id: weight(addr, sid))
        got = port_of(request(host, BASE_URL + "/activities/session/%s" % session_id))
        assert got == int(expected.rsplit(":", 1)[1]), (session_id, expected, got)
