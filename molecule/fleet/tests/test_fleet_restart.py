"""The whole fleet restarted at once, Docker's start delayed by 10 s on the app hosts
(after test_fleet.py and test_fleet_report.py; test_fleet_uploads.py then runs on the
restarted fleet).

Each of the four containers is restarted as a whole (`docker restart`: systemd
stopped with SIGRTMIN+3 and booted again), all at the same time, as after a
power cut of the rack. Afterwards every route must answer through the proxy's
Caddy within 60 s of the restart, no unit may be failed that was not failed
before, none of the platform's units restarted more than once, and no
container more than once.
"""

import json
import subprocess
import time

from divan_scenario import assert_units_came_back, seconds_until_green
from test_fleet import APPS, DATA, PROXY, RUNNER, _exec, _record

testinfra_hosts = RUNNER.get_hosts("divan_proxy")

UNITS = {
    PROXY: ["caddy.service"],
    APPS[0]: ["docker.service", "divan-uploads.service"],
    APPS[1]: ["docker.service", "divan-uploads.service"],
    DATA: ["postgresql@17-main.service", "redis-server.service"],
}
CONTAINERS = ["divan-backend-1", "divan-frontend-1", "divan-activities-core-1"]
ROUTES = ["/", "/health/ready", "/api/health/live", "/health/live"]
CADDY_CA = "/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt"
DELAY = "/etc/systemd/system/docker.service.d/zz-test-delay.conf"


def via_caddy(path):
    out = subprocess.run(
        ["docker", "exec", PROXY, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
         "--cacert", CADDY_CA, "--resolve", "divan.test:443:127.0.0.1", "https://divan.test%s" % path],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False)
    return out.stdout.strip()


def failed_units(container):
    out = _exec(container, "systemctl", "list-units", "--state=failed", "--no-legend", "--plain", check=False)
    return sorted(line.split()[0] for line in out.splitlines() if line.strip())


def test_every_host_comes_back_after_the_fleet_restarts_with_docker_delayed(host):
    before = {name: failed_units(name) for name in UNITS}
    for app in APPS:
        _exec(app, "sh", "-c", "mkdir -p /etc/systemd/system/docker.service.d && "
              "printf '[Service]\\nExecStartPre=/bin/sleep 10\\n' > %s && systemctl daemon-reload" % DELAY)
    try:
        restarts = [subprocess.Popen(["docker", "restart", "-t", "60", name], stdout=subprocess.DEVNULL)
                    for name in UNITS]
        for proc in restarts:
            assert proc.wait(timeout=180) == 0
        green_after, pending = seconds_until_green(via_caddy, ROUTES)
        print("fleet restart with docker delayed 10 s on the app hosts: every route 200 after %s s" % (
            "%.1f" % green_after if green_after is not None else "> 90"))
        _record("restart_every_route_200_after_s", round(green_after, 1) if green_after is not None else None)
        assert green_after is not None and green_after <= 60, ("routes not green within 60 s", pending)

        for name, units in UNITS.items():
            for _attempt in range(60):
                state = _exec(name, "systemctl", "is-system-running", check=False).strip()
                if state in ("running", "degraded"):
                    break
                time.sleep(1)
            after = failed_units(name)
            print("%s: failed units before %s, after %s" % (name, before[name], after))
            assert set(after) <= set(before[name]), (name, after)
            assert_units_came_back(lambda command, name=name: _exec(name, "sh", "-c", command), name, units)
        time.sleep(10)  # a crash loop shows within a few restart periods
        for app in APPS:
            for container in CONTAINERS:
                state = json.loads(_exec(app, "docker", "inspect", "-f", "{{json .State}}", container))
                count = int(_exec(app, "docker", "inspect", "-f", "{{.RestartCount}}", container))
                print("%s %s: %s, health %s, restart count %d" % (
                    app, container, state["Status"], state.get("Health", {}).get("Status"), count))
                assert state["Status"] == "running" and count <= 1, (app, container, state, count)
        assert [route for route in ROUTES if via_caddy(route) != "200"] == []
    finally:
        for app in APPS:
            _exec(app, "sh", "-c", "rm -f %s && systemctl daemon-reload" % DELAY, check=False)
