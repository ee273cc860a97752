"""What divan.platform.activities_core promises, checked on the converged host.

Two fork-mode instances of the stand-in activities-core run under pm2 on
3001 and 3002, with the Socket.IO Redis adapter (Redis from
divan.platform.redis). The tests run in file order; the last ones kill
processes and restart the target, so they come last.
"""

import json
import os
import queue
import subprocess
import time
import uuid

import pytest
import requests
import socketio
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

USER = "divan-activities"
UNIT = "pm2-%s" % USER
PM2_HOME = "/var/lib/divan-activities/.pm2"
ROOT = "/opt/divan/activities-core"
PORTS = {"activities-core-0": 3001, "activities-core-1": 3002}
REDIS_PASSWORD = "0123456789abcdef0123456789abcdef-test-only"
CONTAINER = "divan-activities_pm2"


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
    assert host.file(ROOT + "/releases/1.0.0/node_modules/@socket.io/redis-adapter/package.json").exists
    assert host.file(ROOT + "/releases/1.0.0/index.js").user == "root"
    assert host.user(USER).shell == "/usr/sbin/nologin"


def test_ecosystem_file_private_and_saved(host):
    eco = host.file(ROOT + "/ecosystem.config.js")
    assert eco.user == USER and eco.mode == 0o600
    assert REDIS_PASSWORD in eco.content_string  # REDIS_URL, hence 0600
    assert host.file(PM2_HOME + "/dump.pm2").exists


def test_two_instances_online_as_the_service_user(host):
    procs = pm2_procs(host)
    assert sorted(procs) == sorted(PORTS)
    assert all(status == "online" for _unused, status, _unused in procs.values()), procs
    pids = [pid for pid, _unused, _unused in procs.values()]
    assert len(set(pids)) == 2
    for pid in pids:
        assert host.check_output("ps -o user= -p %d" % pid).strip() == USER


def test_each_instance_healthy_with_the_redis_adapter(host, address):  # host: keeps the file order
    for port in PORTS.values():
        body = health(address, port)
        assert body["service"] == "activities-core"
        assert body["version"] == "1.0.0"
        assert body["adapter"] == "redis", body


def test_both_instances_subscribed_in_redis(host):
    out = host.check_output(
        "redis-cli -h 127.0.0.1 --no-auth-warning -a '%s' PUBSUB NUMSUB 'socket.io-request#/#'" % REDIS_PASSWORD
    ).split()
    assert out == ["socket.io-request#/#", "2"], out


def test_message_crosses_instances_through_redis(host, address):  # host: keeps the file order
    """Client A on 3001 and client B on 3002 join a room; B says, A hears."""
    room, token = "room-%s" % uuid.uuid4().hex, uuid.uuid4().hex
    heard = queue.Queue()
    a, b = socketio.Client(reconnection=False), socketio.Client(reconnection=False)
    a.on("said", heard.put)
    try:
        a.connect("http://%s:3001" % address, transports=["polling"], wait_timeout=10)
        b.connect("http://%s:3002" % address, transports=["polling"], wait_timeout=10)
        a.emit("join", room)
        b.emit("join", room)
        deadline = time.monotonic() + 15
        got = []
        while time.monotonic() < deadline and token not in got:
            b.emit("say", (room, token))
            try:
                got.append(heard.get(timeout=1))
            except queue.Empty:
                pass
        assert token in got, "A (3001) never heard B (3002): %s" % got
    finally:
        a.disconnect()
        b.disconnect()


def test_no_message_leaks_to_other_rooms(host, address):  # host: keeps the file order
    """The negative control: a client in another room hears nothing."""
    room, token = "room-%s" % uuid.uuid4().hex, uuid.uuid4().hex
    heard = queue.Queue()
    a, b = socketio.Client(reconnection=False), socketio.Client(reconnection=False)
    a.on("said", heard.put)
    try:
        a.connect("http://%s:3001" % address, transports=["polling"], wait_timeout=10)
        b.connect("http://%s:3002" % address, transports=["polling"], wait_timeout=10)
        a.emit("join", room + "-elsewhere")
        b.emit("join", room)
        for _unused in range(3):
            b.emit("say", (room, token))
        time.sleep(2)
        assert heard.empty()
    finally:
        a.disconnect()
        b.disconnect()


def test_killed_instance_is_restarted_by_pm2(host, address):
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
    assert all(b["adapter"] == "redis" for b in bodies)
    assert all(status == "online" for _unused, status, _unused in pm2_procs(host).values())
