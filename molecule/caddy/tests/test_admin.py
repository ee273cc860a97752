"""Caddy's admin API on the converged host: a unix socket that only root
and the caddy user reach (caddy_admin_socket), no TCP admin port; Caddy's
own metrics on a read-only loopback listener (caddy_server_metrics_address).
Changes nothing (every attempt to change the configuration must fail)."""

import hashlib
import json
import os
import shlex

import testinfra.utils.ansible_runner

from caddyprobe import ADMIN_CURL, ADMIN_SOCKET, SERVER_METRICS, admin_config

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

ADMIN_DIR = os.path.dirname(ADMIN_SOCKET)

# Run inside the target: a POST /load (an empty configuration: it would
# stop every site) to the admin socket and to Caddy's TCP default, with what
# happened to each, as JSON.
LOAD_PROBE = r"""
import json, socket, sys
req = (b"POST /load HTTP/1.1\r\nHost: \r\nContent-Type: application/json\r\n"
       b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
out = {}
for name, family, addr in (("socket", socket.AF_UNIX, sys.argv[1]),
                           ("tcp4", socket.AF_INET, ("127.0.0.1", 2019)),
                           ("tcp6", socket.AF_INET6, ("::1", 2019))):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(addr)
        s.sendall(req)
        out[name] = "answered " + s.recv(200).decode("latin-1").split("\r\n")[0]
    except OSError as exc:
        out[name] = type(exc).__name__
    finally:
        s.close()
print(json.dumps(out))
"""


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


def as_nobody(host, command):
    return host.run("runuser -u nobody -- %s" % command)


def test_admin_socket_is_in_a_folder_only_root_and_caddy_enter(host):
    folder = host.file(ADMIN_DIR)
    assert folder.is_directory
    assert (folder.user, folder.group, folder.mode) == ("caddy", "caddy", 0o750)
    assert host.file(ADMIN_SOCKET).is_socket
    dropin = host.file("/etc/systemd/system/caddy.service.d/divan-admin-socket.conf").content_string
    assert "RuntimeDirectory=caddy\n" in dropin and "RuntimeDirectoryMode=0750\n" in dropin
    assert host.check_output("systemctl show -p RuntimeDirectory --value caddy") == "caddy"


def test_root_reads_the_configuration_from_the_socket(host):
    config = json.loads(admin_config(host))
    assert config["admin"]["listen"] == "unix/" + ADMIN_SOCKET
    assert "2019" not in json.dumps(config["admin"])


def test_nobody_cannot_replace_the_configuration(host):
    before = digest(admin_config(host))
    # the socket's folder: permission denied before any HTTP
    probe = as_nobody(host, "python3 -c %s %s" % (shlex.quote(LOAD_PROBE), ADMIN_SOCKET))
    assert probe.rc == 0, probe.stderr
    result = json.loads(probe.stdout)
    assert result["socket"] == "PermissionError", result
    # nothing on Caddy's TCP default any more
    assert result["tcp4"] == "ConnectionRefusedError", result
    assert not result["tcp6"].startswith("answered"), result
    # the same with curl, as in the report that started this
    load = "-X POST -H 'Content-Type: application/json' -d '{}'"
    out = as_nobody(host, "curl -sS --max-time 5 %s http://localhost:2019/load" % load)
    assert out.rc == 7, (out.rc, out.stderr)  # curl: could not connect
    out = as_nobody(host, "%s --max-time 5 %s http://localhost/load" % (ADMIN_CURL, load))
    assert out.rc == 7, (out.rc, out.stderr)  # the socket's folder: permission denied
    assert as_nobody(host, "ls %s" % ADMIN_DIR).rc != 0
    assert digest(admin_config(host)) == before, "a non-root user changed Caddy's configuration"


def test_reload_reads_the_socket_from_the_caddyfile(host):
    """`systemctl reload caddy` (ExecReload: `caddy reload` as the caddy user)
    and `caddy reload` as root reach the socket; the process stays."""
    pid = host.check_output("systemctl show -p MainPID --value caddy")
    host.run_test("systemctl reload caddy")
    host.run_test("caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile --force")
    assert host.check_output("systemctl show -p MainPID --value caddy") == pid
    assert host.service("caddy").is_running
    assert host.file(ADMIN_SOCKET).is_socket


def test_server_metrics_on_a_read_only_loopback_listener(host):
    body = host.check_output("curl -fsS --max-time 5 http://%s/metrics" % SERVER_METRICS)
    assert "# TYPE go_goroutines gauge" in body
    assert "caddy_admin_http_requests_total" in body
    # nothing else: not the admin API
    for path in ("/config/", "/load", "/"):
        code = host.check_output("curl -sS -o /dev/null -w '%%{http_code}' --max-time 5 -X POST -d '{}' http://%s%s"
                                 % (SERVER_METRICS, path))
        assert code == "404", (path, code)
    # bound to loopback only
    port = SERVER_METRICS.rsplit(":", 1)[1]
    address = host.check_output("hostname -I").split()[0]
    out = host.run("curl -sS -o /dev/null --max-time 5 http://%s:%s/metrics" % (address, port))
    assert out.rc == 7, (out.rc, out.stderr)
