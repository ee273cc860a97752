"""What divan.platform.activities_core promises, checked on the converged host.

Two fork-mode instances of the stand-in activities-core run under pm2 on
3001 and 3002, with POSTGRES_URL, SERVICE_SIGNING_KEY and REDIS_URL from the
backend environment (app_env / app_env_extra) and BACKEND_URL from the
published app_layout fact (converge.yml). Secrets are compared by hash or
presence, never printed. Like the real service, a session lives in one
process (no Redis adapter). The tests run in file order; the last ones kill
processes and restart the target, so they come last.
"""

import hashlib
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
import testinfra.utils.ansible_runner
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

USER = "divan-activities"
UNIT = "pm2-%s" % USER
PM2_HOME = "/var/lib/divan-activities/.pm2"
ROOT = "/opt/divan/activities-core"
PORTS = {"activities-core-0": 3001, "activities-core-1": 3002}
REDIS_PASSWORD = "0123456789abcdef0123456789abcdef-test-only"
# converge.yml's app_env / app_env_extra and app_layout.
SECRETS = {
    "POSTGRES_URL": "postgresql://divan:pg-secret-test-only-4f1d@127.0.0.1:5432/divan",
    "SERVICE_SIGNING_KEY": "signing-secret-test-only-9c2e7a",
    "REDIS_URL": "redis://:%s@127.0.0.1:6379/0" % REDIS_PASSWORD,
}
BACKEND_URL = "http://127.0.0.1:8010"
CONTAINER = "divan-activities_pm2"
MOLECULE_LOG = Path(__file__).resolve().parents[3] / ".cache" / "logs" / "molecule-activities_pm2.log"


def pm2_procs(host):
    """pm2's process list, as the service user: {name: (pid, status, restarts)}."""
    out = host.check_output(
        "runuser -u %s -- env HOME=/var/lib/divan-activities PM2_HOME=%s /usr/local/bin/pm2 jlist" % (USER, PM2_HOME)
    )
    line = [x for x in out.splitlines() if x.startswith("[")][-1]
    return {
        p["name"]: (p["pid"], p["pm2_env"]["status"], p["pm2_env"].get("restart_time", 0))
        for p in json.loads(line)
    }


def container_address():
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", CONTAINER],
        stdout=subprocess.PIPE, text=True, check=True,
    ).stdout.split()
    assert out, "no address for %s" % CONTAINER
    return out[0]


@pytest.fixture()
def address():
    return container_address()


def health(address, port, timeout=5):
    resp = requests.get("http://%s:%d/" % (address, port), timeout=timeout)
    assert resp.status_code == 200, resp.text
    return resp.json()


def wait_healthy(address, ports, seconds=60):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            return [health(address, port) for port in ports]
        except (requests.RequestException, AssertionError) as err:
            last = err
            time.sleep(1)
    raise AssertionError("not healthy after %ds: %s" % (seconds, last))


def test_unit_written_by_pm2_startup_enabled_and_running(host):
    unit = host.file("/etc/systemd/system/%s.service" % UNIT)
    assert unit.exists
    assert "resurrect" in unit.content_string and "User=%s" % USER in unit.content_string
    svc = host.service(UNIT)
    assert svc.is_enabled and svc.is_running


def test_release_layout(host):
    current = host.file(ROOT + "/current")
    assert current.is_symlink and current.linked_to == ROOT + "/releases/1.0.0"
    assert host.file(ROOT + "/releases/1.0.0/node_modules/ws/package.json").exists
    assert not host.file(ROOT + "/releases/1.0.0/node_modules/socket.io").exists  # like the real one: no socket.io
    assert host.file(ROOT + "/releases/1.0.0/index.js").user == "root"
    assert host.user(USER).shell == "/usr/sbin/nologin"


def test_ecosystem_file_private_and_saved(host):
    eco = host.file(ROOT + "/ecosystem.config.js")
    assert eco.user == USER and eco.mode == 0o600
    content = eco.content_string
    missing = [name for name, value in SECRETS.items() if value not in content]
    assert not missing, "not in the ecosystem file: %s" % missing  # the secrets, hence 0600
    assert host.file(PM2_HOME + "/dump.pm2").exists
    # pm2's saved process list holds the environment too.
    assert host.file("/var/lib/divan-activities").mode == 0o700


def test_two_instances_online_as_the_service_user(host):
    procs = pm2_procs(host)
    assert sorted(procs) == sorted(PORTS)
    assert all(status == "online" for _unused, status, _unused in procs.values()), procs
    pids = [pid for pid, _unused, _unused in procs.values()]
    assert len(set(pids)) == 2
    for pid in pids:
        assert host.check_output("ps -o user= -p %d" % pid).strip() == USER


def _environ(pid, name):
    """The shell pipeline that prints NAME's value in the environment of process PID."""
    return "tr '\\0' '\\n' </proc/%d/environ | sed -n 's/^%s=//p' | head -n 1 | tr -d '\\n'" % (pid, name)


def test_processes_have_the_required_environment(host):
    """POSTGRES_URL, SERVICE_SIGNING_KEY, REDIS_URL from app_env / app_env_extra; BACKEND_URL from app_layout.

    The secrets are compared by their sha256, so that a failure prints no secret.
    """
    procs = pm2_procs(host)
    assert sorted(procs) == sorted(PORTS)
    for name, (pid, _unused, _unused) in procs.items():
        for key, value in SECRETS.items():
            digest = host.check_output(_environ(pid, key) + " | sha256sum").split()[0]
            assert digest == hashlib.sha256(value.encode()).hexdigest(), \
                "%s (pid %d): %s is missing or not the converge's value" % (name, pid, key)
        assert host.check_output(_environ(pid, "BACKEND_URL")) == BACKEND_URL, name
        assert host.check_output(_environ(pid, "PORT")) == str(PORTS[name]), name


def test_secrets_never_in_the_molecule_output():
    """converge, idempotence and --check ran before verify: none of them printed a secret."""
    log = MOLECULE_LOG.read_text(errors="replace") if MOLECULE_LOG.is_file() else ""
    if "molecule converge" not in log:
        pytest.skip("not run through tests/harness/molecule.sh: no converge log in %s" % MOLECULE_LOG)
    assert "PLAY RECAP" in log
    leaked = [name for name, value in SECRETS.items() if value in log]
    leaked += ["the Redis password"] if REDIS_PASSWORD in log else []
    assert not leaked, "printed by molecule: %s" % leaked


def test_each_instance_healthy_with_its_backend_url(host, address):
    pids = {PORTS[n]: pid for n, (pid, _unused, _unused) in pm2_procs(host).items()}
    for port in PORTS.values():
        body = health(address, port)
        assert body["service"] == "activities-core"
        assert body["version"] == "1.0.0"
        assert body["backend_url"] == BACKEND_URL, body
        assert body["pid"] == pids[port], body


def test_both_instances_connected_to_redis(host):
    """REDIS_URL reaches the service: each instance holds a connection (which it uses for nothing).

    The role's ACL refuses CLIENT LIST; INFO counts the clients, redis-cli's own connection included.
    """
    out = host.check_output("redis-cli -h 127.0.0.1 --no-auth-warning -a '%s' INFO clients" % REDIS_PASSWORD)
    counts = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("connected_clients:")]
    assert counts == ["3"], out


def _session(address, port, method, sid):
    return requests.request(method, "http://%s:%d/activities/session/%s" % (address, port, sid), timeout=5)


def _stream(address, port, sid):
    return ws_connect("ws://%s:%d/activities/session/%s/stream" % (address, port, sid), open_timeout=10)


def test_session_lives_on_the_instance_that_created_it(host, address):  # host: keeps the file order
    """Sessions live in process memory, as in the real service: the other instance does not know it."""
    sid = "s-%s" % uuid.uuid4().hex
    assert _session(address, 3001, "GET", sid).status_code == 404
    assert _session(address, 3001, "POST", sid).status_code == 201
    assert _session(address, 3001, "POST", sid).status_code == 200
    assert _session(address, 3001, "GET", sid).json()["id"] == sid
    assert _session(address, 3002, "GET", sid).status_code == 404
    with _stream(address, 3002, sid) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None, closed.value
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "session_not_found")


def test_messages_reach_every_socket_of_the_session_only(host, address):  # host: keeps the file order
    """A and B on one session: B says, both hear (echo included); C, on another session, hears nothing of it."""
    sid, other, token = "s-%s" % uuid.uuid4().hex, "s-%s" % uuid.uuid4().hex, uuid.uuid4().hex
    for name in (sid, other):
        assert _session(address, 3001, "POST", name).status_code == 201
    with _stream(address, 3001, sid) as a, _stream(address, 3001, sid) as b, _stream(address, 3001, other) as c:
        for ws, name in ((a, sid), (b, sid), (c, other)):
            assert json.loads(ws.recv(timeout=10))["session"] == name
        b.send(token)
        assert a.recv(timeout=10) == token
        assert b.recv(timeout=10) == token
        # C's first message after the greeting is its own: nothing of the other session reached it.
        c.send("marker")
        assert c.recv(timeout=10) == "marker"


def test_killed_instance_is_restarted_by_pm2(host, address):
    """pm2 brings the instance back; its sessions, in process memory, are gone (as in the real service)."""
    sid = "s-%s" % uuid.uuid4().hex
    assert _session(address, 3001, "POST", sid).status_code == 201
    pid, _unused, restarts = pm2_procs(host)["activities-core-0"]
    host.run("kill -9 %d" % pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new_pid, status, new_restarts = pm2_procs(host)["activities-core-0"]
        if new_pid and new_pid != pid and status == "online":
            break
        time.sleep(1)
    else:
        pytest.fail("pm2 did not restart activities-core-0 (pid %d)" % pid)
    assert new_restarts == restarts + 1
    wait_healthy(address, [3001])
    assert _session(address, 3001, "GET", sid).status_code == 404


def test_killed_pm2_daemon_is_restarted_by_systemd(host, address):
    daemon = int(host.file(PM2_HOME + "/pm2.pid").content_string.strip())
    old = pm2_procs(host)
    host.run("kill -9 %d" % daemon)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pidfile = host.file(PM2_HOME + "/pm2.pid")
        if host.service(UNIT).is_running and pidfile.exists and pidfile.content_string.strip() not in ("", str(daemon)):
            break
        time.sleep(1)
    else:
        pytest.fail("systemd did not bring the pm2 daemon back")
    wait_healthy(address, PORTS.values())
    new = pm2_procs(host)
    assert sorted(new) == sorted(PORTS)
    assert all(new[n][0] != old[n][0] for n in PORTS), (old, new)


def test_target_restart_resurrects_the_saved_processes(host):
    """A restart of the whole target (the container) stands in for a reboot."""
    subprocess.run(["docker", "restart", CONTAINER], check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = subprocess.run(
            ["docker", "exec", CONTAINER, "systemctl", "is-system-running"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            check=False
        ).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(1)
    # The restarted container may have another address.
    bodies = wait_healthy(container_address(), PORTS.values(), seconds=60)
    assert all(b["backend_url"] == BACKEND_URL for b in bodies)
    assert all(status == "online" for _unused, status, _unused in pm2_procs(host).values())
