"""What divan.platform.monitoring promises, checked on the converged host."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import testinfra.utils.ansible_runner
import yaml

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
TEST_VARS = yaml.safe_load((SCENARIO / "vars" / "test.yml").read_text())
TOKEN = TEST_VARS["divan_test_obs_admin_token"]
REDIS_PASSWORD = TEST_VARS["divan_test_redis_password"]
PROM = "http://127.0.0.1:9090"
EXPECTED_TARGETS = {
    ("prometheus", "127.0.0.1:9090"),
    ("node", "127.0.0.1:9100"),
    ("postgres", "127.0.0.1:9187"),
    ("redis", "127.0.0.1:9121"),
    ("divan-backend", "127.0.0.1:8000"),
    ("divan-backend", "127.0.0.1:8010"),
    ("caddy", "127.0.0.1:2020"),
}
ALERTS = {"TargetDown", "Backend5xxRate", "DiskAlmostFull", "DiskFillingUp", "PostgresqlDown", "RedisDown"}
UNITS = ["prometheus", "prometheus-node-exporter", "prometheus-postgres-exporter", "prometheus-redis-exporter"]


def api(host, path):
    out = host.check_output("curl -sS --fail --max-time 5 -g '%s%s'" % (PROM, path))
    body = json.loads(out)
    assert body["status"] == "success", body
    return body["data"]


def poll(check, timeout=60, delay=2):
    """check() until it returns a true value; its last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(delay)


def targets(host):
    return {(t["labels"]["job"], t["labels"]["instance"]): t for t in api(host, "/api/v1/targets")["activeTargets"]}


def alerts(host, name):
    return [a for a in api(host, "/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == name]


def http_status(host, url, *headers):
    args = " ".join("-H '%s'" % h for h in headers)
    return host.check_output("curl -s -o /dev/null -w '%%{http_code}' %s '%s'" % (args, url))


def test_services_running_and_enabled(host):
    for unit in UNITS:
        svc = host.service(unit)
        assert svc.is_running and svc.is_enabled, unit


def test_every_target_up(host):
    def all_up():
        found = targets(host)
        return set(found) == EXPECTED_TARGETS and all(t["health"] == "up" for t in found.values()) and found

    found = poll(all_up, timeout=60) or targets(host)
    assert set(found) == EXPECTED_TARGETS
    down = {k: (t["health"], t["lastError"]) for k, t in found.items() if t["health"] != "up"}
    assert not down


def test_exporters_reach_postgresql_and_redis(host):
    # An exporter answers even when it cannot log in: pg_up / redis_up say whether it did.
    for metric in ("pg_up", "redis_up"):
        result = poll(lambda: api(host, "/api/v1/query?query=%s" % metric)["result"], timeout=30)
        assert result, metric
        assert result[0]["value"][1] == "1", (metric, result)


def test_backend_scraped_with_the_bearer_token(host):
    result = poll(lambda: api(host, '/api/v1/query?query=http_requests_total{job="divan-backend"}')["result"])
    instances = {r["metric"]["instance"] for r in result}
    assert instances == {"127.0.0.1:8000", "127.0.0.1:8010"}
    assert {r["metric"]["status"] for r in result} == {"2xx", "5xx"}


def test_backend_refuses_metrics_without_the_token(host):
    url = "http://127.0.0.1:8000/metrics"
    assert http_status(host, url) == "403"
    assert http_status(host, url, "Authorization: Bearer not-the-token") == "403"
    assert http_status(host, url, "Authorization: Bearer %s" % TOKEN) == "200"
    journal = host.check_output("journalctl -u divan-standin-metrics@8000 --no-pager -o cat")
    assert "refused /metrics" in journal


def test_alert_rules_loaded(host):
    rules = [r for g in api(host, "/api/v1/rules")["groups"] for r in g["rules"]]
    assert {r["name"] for r in rules} == ALERTS
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


def test_backend_5xx_rate_alert(host):
    # The stand-in answers half its requests with 5xx; for: 1h keeps it pending.
    found = poll(lambda: alerts(host, "Backend5xxRate"), timeout=90)
    assert found
    assert {a["labels"]["instance"] for a in found} == {"127.0.0.1:8000", "127.0.0.1:8010"}
    assert all(a["state"] in ("pending", "firing") for a in found)


def test_stopped_backend_fires_target_down(host):
    assert not [a for a in alerts(host, "TargetDown") if a["labels"]["instance"] == "127.0.0.1:8010"]
    host.check_output("systemctl stop divan-standin-metrics@8010")
    try:
        def firing():
            return [a for a in alerts(host, "TargetDown")
                    if a["labels"]["instance"] == "127.0.0.1:8010" and a["state"] == "firing"]

        found = poll(firing, timeout=60)
        assert found, alerts(host, "TargetDown")
        assert found[0]["labels"]["job"] == "divan-backend"
        others = [a["labels"]["instance"] for a in alerts(host, "TargetDown")]
        assert others == ["127.0.0.1:8010"]
    finally:
        host.check_output("systemctl start divan-standin-metrics@8010")


def test_listen_on_loopback_only(host):
    listening = host.check_output("ss -Htln").splitlines()
    for port in (9090, 9100, 9187, 9121):
        local = [line.split()[3] for line in listening if line.split()[3].endswith(":%d" % port)]
        assert local, port
        assert all(addr == "127.0.0.1:%d" % port for addr in local), local


def test_prometheus_not_reachable_on_other_addresses(host):
    addrs = host.check_output("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1").split()
    assert addrs
    for addr in addrs:
        assert host.run("curl -s --max-time 3 http://%s:9090/api/v1/status/buildinfo" % addr).rc != 0, addr


def test_token_file_private_and_not_inline(host):
    token_file = host.file("/etc/prometheus/divan-backend.token")
    assert token_file.mode == 0o640
    assert (token_file.user, token_file.group) == ("root", "prometheus")
    assert token_file.content_string.strip() == TOKEN
    config = host.file("/etc/prometheus/prometheus.yml").content_string
    assert "credentials_file: /etc/prometheus/divan-backend.token" in config
    assert TOKEN not in config


def test_exporter_secrets_private(host):
    redis_env = host.file("/etc/default/prometheus-redis-exporter")
    assert redis_env.mode == 0o640 and redis_env.group == "prometheus"
    assert REDIS_PASSWORD in redis_env.content_string
    ps = host.check_output("ps -eo args")
    assert REDIS_PASSWORD not in ps and TOKEN not in ps


def test_secrets_not_in_the_converge_log():
    # molecule.yml sends every playbook run of the instance to this log,
    # with molecule run alone or by tests/scenarios/test_molecule.py.
    log = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.log"
    assert log.exists(), "no playbook log at %s: was the instance converged?" % log
    text = log.read_text()
    # The log holds the first converge, which wrote the token and password
    # files (changed): the tasks whose output would carry the secrets.
    assert "PLAY [Converge PostgreSQL, Redis and the monitoring role]" in text
    recaps = [int(c) for c in re.findall(r"^.*?divan-monitoring\s*:\s*ok=\d+\s+changed=(\d+)", text, re.M)]
    assert recaps and max(recaps) > 0, "no converge that changed the host in %s" % log
    assert "TASK [divan.platform.monitoring : " in text
    assert TOKEN not in text
    assert REDIS_PASSWORD not in text


def test_empty_token_refused_before_any_change(host):
    before = host.file("/etc/prometheus/prometheus.yml").mtime
    playbook = shutil.which("ansible-playbook") or os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run(
        [playbook, "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "refused.yml")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(ROOT),
        check=False
    )
    assert proc.returncode != 0, proc.stdout
    flat = " ".join(proc.stdout.split())
    assert "monitoring_backend_token must be the backend's OBS_ADMIN_TOKEN" in flat, proc.stdout[-3000:]
    assert "Nothing was changed" in flat
    assert re.search(r"changed=0\s", proc.stdout), proc.stdout[-2000:]
    assert host.file("/etc/prometheus/prometheus.yml").mtime == before
