"""What divan.platform.caddy promises, checked on the converged host."""

import json
import os
import time

import pytest
import testinfra.utils.ansible_runner

from caddyprobe import (
    DOMAIN, FETCHED_ROOT, WebSocketSession, assert_security_headers,
    install_fetched_root, request,
)

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

ROOT_IN_TARGET = "/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt"
BASE = "https://%s" % DOMAIN


@pytest.fixture(scope="module", autouse=True)
def fetched_root(host):
    return install_fetched_root(host)


def test_caddy_runs_under_systemd_as_its_own_user(host):
    svc = host.service("caddy")
    assert svc.is_running and svc.is_enabled
    pid = host.check_output("systemctl show -p MainPID --value caddy")
    assert host.check_output("ps -o user= -p %s" % pid).strip() == "caddy"


def test_caddyfile_is_valid_and_written_for_the_installed_version(host):
    version = host.check_output("caddy version").split()[0].lstrip("v")
    caddyfile = host.file("/etc/caddy/Caddyfile").content_string
    assert "written for Caddy %s" % version in caddyfile
    if tuple(int(x) for x in version.split(".")[:2]) < (2, 7):
        assert "stream_close_delay" not in caddyfile.replace("no stream_close_delay", "")
    else:
        assert "stream_close_delay 5m" in caddyfile
    host.run_test("caddy validate --adapter caddyfile --config /etc/caddy/Caddyfile")


def test_fetched_root_is_the_local_ca_root(host):
    assert FETCHED_ROOT.read_text() == host.file(ROOT_IN_TARGET).content_string


def test_https_chain_verifies_with_the_fetched_root_only(host):
    assert request(host, BASE + "/").status == 200
    # The local CA is not in the system trust store (skip_install_trust).
    out = host.run("curl -sS -o /dev/null --max-time 10 %s/" % BASE)
    assert out.rc == 60, (out.rc, out.stderr)  # curl: peer certificate cannot be authenticated


@pytest.mark.parametrize("path,upstream,seen_path", [
    ("/api/users/me?x=1", "backend", "/users/me?x=1"),  # prefix stripped
    ("/socket.io/?EIO=4&transport=polling", "backend", "/socket.io/?EIO=4&transport=polling"),
    ("/uploads/avatars/a.png", "backend", "/uploads/avatars/a.png"),
    ("/activities/session/abc", "activities-core", "/activities/session/abc"),
    ("/health/ready", "backend", "/health/ready"),
    ("/", "frontend", "/"),
    ("/dashboard/games", "frontend", "/dashboard/games"),
    ("/apix", "frontend", "/apix"),
])
def test_route_reaches_its_upstream(host, path, upstream, seen_path):
    resp = request(host, BASE + path)
    assert resp.status == 200, resp
    data = resp.json()
    assert (data["upstream"], data["path"]) == (upstream, seen_path)
    assert data["headers"]["X-Forwarded-Proto"] == "https"


def test_frontend_is_balanced_over_both_hosts(host):
    ports = {request(host, BASE + "/lb-%d" % i).json()["port"] for i in range(6)}
    assert ports == {3000, 3002}


def test_security_headers_on_200(host):
    resp = request(host, BASE + "/")
    assert resp.status == 200
    assert_security_headers(resp)


def test_security_headers_on_404_from_upstream(host):
    resp = request(host, BASE + "/not-found-page")
    assert resp.status == 404
    assert_security_headers(resp)


def test_security_headers_on_502_when_upstream_is_down(host):
    host.run_test("systemctl stop divan-standin-3001 divan-standin-3003")
    try:
        resp = request(host, BASE + "/activities/x")
    finally:
        host.run_test("systemctl start divan-standin-3001 divan-standin-3003")
    assert resp.status in (502, 503), resp
    assert_security_headers(resp)


def test_security_headers_on_redirects(host):
    assert_security_headers(request(host, "http://%s/" % DOMAIN))
    assert_security_headers(request(host, "https://www.%s/" % DOMAIN))


def test_metrics_refused_from_outside(host):
    # /api/metrics would reach the backend's /metrics (the /api route strips its prefix).
    for path in ("/metrics", "/metrics/", "/metrics/extra", "/api/metrics", "/api/metrics/", "/api/metrics/x",
                 "/api//metrics", "/API/metrics"):
        resp = request(host, BASE + path)
        assert resp.status == 403, (path, resp)
        assert "upstream" not in resp.body
        assert_security_headers(resp)


def test_metrics_reach_backend_from_the_scraper_address(host):
    resp = request(host, BASE + "/metrics", "--interface 127.0.0.2")
    assert resp.status == 200, resp
    assert resp.json()["upstream"] == "backend"


@pytest.mark.parametrize("url,location,status", [
    ("http://divan.test/a/b?c=1", "https://divan.test/a/b?c=1", 308),
    ("http://www.divan.test/a?c=1", "https://divan.test/a?c=1", 308),
    ("https://www.divan.test/a?c=1", "https://divan.test/a?c=1", 301),
])
def test_redirects(host, url, location, status):
    resp = request(host, url)
    assert resp.status in (301, 308), resp
    assert resp.headers["location"] == [location]


def test_restarting_upstream_delays_requests_instead_of_failing(host):
    # Both backend hosts down: the request can only wait for one to come back.
    host.run_test("systemctl stop divan-standin-8000 divan-standin-8001")
    host.run_test("systemd-run --quiet --collect /bin/sh -c 'sleep 3; systemctl start divan-standin-8000'")
    start = time.monotonic()
    resp = request(host, BASE + "/api/during-restart")
    elapsed = time.monotonic() - start
    host.run_test("systemctl start divan-standin-8000 divan-standin-8001")
    assert resp.status == 200, resp
    assert resp.json()["path"] == "/during-restart"
    assert elapsed > 2, "the upstream was never down? %.1fs" % elapsed


@pytest.mark.parametrize("path,upstream", [
    ("/activities/session/game-1", "activities-core"),
    ("/socket.io/?EIO=4&transport=websocket", "backend"),
])
def test_websocket_through_the_proxy(host, path, upstream):
    ws = WebSocketSession(host, path)
    assert "echo %s: before" % upstream in ws.output()
    out = ws.finish()
    assert "echo %s: after" % upstream in out, out


def test_access_log_is_json_and_rotated(host):
    request(host, BASE + "/access-log-probe")
    log = "/var/log/caddy/%s.access.log" % DOMAIN
    f = host.file(log)
    assert f.user == "caddy"
    entries = [json.loads(line) for line in f.content_string.splitlines() if line.strip()]
    assert any(e["request"]["uri"] == "/access-log-probe" and e["status"] == 200 for e in entries)
    caddyfile = host.file("/etc/caddy/Caddyfile").content_string
    assert "roll_size 100MiB" in caddyfile and "roll_keep 10" in caddyfile and "roll_keep_for 720h" in caddyfile
    # As Caddy reads them: the access log's file writer rolls at 100 MiB, keeps 10 files for 30 days.
    adapted = json.loads(host.check_output("caddy adapt --config /etc/caddy/Caddyfile --adapter caddyfile"))
    writers = [w["writer"] for w in adapted["logging"]["logs"].values()
               if w.get("writer", {}).get("filename") == log]
    assert writers, adapted["logging"]  # one per site block importing the log snippet
    for w in writers:
        assert w.get("roll", True) is not False
        assert (w["roll_size_mb"], w["roll_keep"], w["roll_keep_days"]) == (100, 10, 30), w
