"""A host restart of the production-shaped stack, with Docker's start delayed by 10 s (runs last).

The container is restarted as a whole (`docker restart`: systemd is stopped
with SIGRTMIN+3 and booted again, /run and /tmp are fresh), with a drop-in
that makes docker.service sleep 10 s before dockerd starts. Redis and
PostgreSQL bind the Docker bridge gateway (inventories/production: 172.17.0.1),
which exists only once Docker has started: without the roles' ordering drop-ins they fail
at boot. Afterwards no unit may be failed that was not failed before, none of
the platform's units may have been restarted more than once, no container
more than once, and every route must answer through Caddy within 60 s of
the boot. Then Redis is stopped: the backend's readiness, and the
verification's line for it, must turn red, and green again once Redis is back.
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import testinfra.utils.ansible_runner
from divan_scenario import ansible_playbook, assert_units_came_back, seconds_until_green

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")

SCENARIO = Path(__file__).resolve().parents[1]
# The root of the pebble that issued Caddy's certificates (../../_shared/pebble.yml
# saved it; pebble makes a new one when it starts again after the restart).
PEBBLE_ROOT = "/etc/pebble/root.pem"
UNITS = ["docker.service", "redis-server.service", "postgresql@17-main.service", "caddy.service"]
CONTAINERS = ["divan-backend-1", "divan-backend-2-1", "divan-frontend-1", "divan-activities-core-1"]
ROUTES = ["/", "/health/ready", "/api/health/live", "/health/live"]
DELAY = "/etc/systemd/system/docker.service.d/zz-test-delay.conf"


def via_caddy(host, path):
    out = host.run(
        "curl -s -o /dev/null -w '%%{http_code}' --max-time 5 --cacert %s --resolve divan.test:443:127.0.0.1 "
        "'https://divan.test%s'" % (PEBBLE_ROOT, path))
    return out.stdout.strip()


def failed_units(host):
    out = host.run("systemctl list-units --state=failed --no-legend --plain")
    return sorted(line.split()[0] for line in out.stdout.splitlines() if line.strip())


def verify_run():
    return ansible_playbook(SCENARIO / "converge.yml", tags="verify")


def readiness_line(out):
    m = re.search(r"(PASS|FAIL|SKIP) \| health: backend /health/ready \(Redis, database and migrations\)", out)
    return m.group(1) if m else None


def test_every_service_comes_back_after_a_restart_with_docker_delayed(host):
    name = host.backend.get_hostname()  # the container, as molecule named it
    before = failed_units(host)
    host.run_expect([0], "mkdir -p /etc/systemd/system/docker.service.d && "
                         "printf '[Service]\\nExecStartPre=/bin/sleep 10\\n' > %s && systemctl daemon-reload" % DELAY)
    try:
        subprocess.run(["docker", "restart", "-t", "60", name], check=True, stdout=subprocess.PIPE)
        green_after, pending = seconds_until_green(lambda route: via_caddy(host, route), ROUTES)
        print("host restart with docker delayed 10 s: every route 200 after %s s" % (
            "%.1f" % green_after if green_after is not None else "> 90"))
        assert green_after is not None and green_after <= 60, ("routes not green within 60 s", pending)

        for _attempt in range(60):
            state = host.run("systemctl is-system-running").stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(1)
        after = failed_units(host)
        print("failed units before %s, after %s" % (before, after))
        assert set(after) <= set(before), after
        assert_units_came_back(host.check_output, name, UNITS)
        time.sleep(10)  # a crash loop shows within a few restart periods
        for container in CONTAINERS:
            state = json.loads(host.check_output("docker inspect -f '{{json .State}}' %s" % container))
            restarts = int(host.check_output("docker inspect -f '{{.RestartCount}}' %s" % container))
            print("%s: %s, health %s, restart count %d" % (
                container, state["Status"], state.get("Health", {}).get("Status"), restarts))
            assert state["Status"] == "running" and restarts <= 1, (container, state, restarts)
        # The activities-core reaches Redis (its Socket.IO adapter): no crash loop.
        journal = host.run("journalctl -b -u redis-server --no-pager").stdout
        assert "Cannot assign requested address" not in journal, journal[-2000:]
    finally:
        host.run("rm -f %s && systemctl daemon-reload" % DELAY)


def test_readiness_turns_red_when_redis_is_down(host):
    host.run_expect([0], "systemctl stop redis-server")
    try:
        code = ""
        for _attempt in range(20):
            code = host.run("curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:8000/health/ready").stdout
            if code == "503":
                break
            time.sleep(1)
        assert code == "503", code
        rc, out = verify_run()
        assert rc != 0, out[-3000:]
        assert readiness_line(out) == "FAIL", out[-4000:]
    finally:
        host.run_expect([0], "systemctl start redis-server")
    for _attempt in range(30):
        if host.run("curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:8000/health/ready").stdout == "200":
            break
        time.sleep(1)
    assert via_caddy(host, "/health/ready") == "200"
