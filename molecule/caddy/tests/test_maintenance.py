"""playbooks/maintenance.yml on the converged host: maintenance on (503,
Retry-After, the page, the security headers; health and metrics as usual),
on again (no change), off (the Caddyfile as before, byte for byte). Runs
after test_changes.py (file order) and leaves maintenance off, whatever
fails."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
import yaml

from caddyprobe import (
    BASE_URL, USER_CONTENT_CSP, admin_config, assert_security_headers, install_fetched_root, request,
)

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
HOSTS = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")
testinfra_hosts = HOSTS

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
RECAP = re.compile(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", re.M)
CADDYFILE = "/etc/caddy/Caddyfile"
RELOAD = "RUNNING HANDLER [divan.platform.caddy : Reload caddy]"
# What every maintenance answer carries (the role's defaults).
RETRY_AFTER = "300"
TITLE = "Down for maintenance"
MESSAGE = "Divan is being updated. Please come back in a few minutes."


@pytest.fixture(scope="module", autouse=True)
def fetched_root(host):
    return install_fetched_root(host)


@pytest.fixture(scope="module")
def proxy_inventory(tmp_path_factory):
    """The scenario's host in divan_proxy, with the scenario's role variables
    (and where the stand-in of Caddy's repository is) as group variables, as
    an inventory gives them to site.yml."""
    group_vars = yaml.safe_load((SCENARIO.parent / "_shared/vars/vendor-repos.yml").read_text())
    group_vars.update(yaml.safe_load((SCENARIO / "vars/main.yml").read_text()))
    path = tmp_path_factory.mktemp("maintenance") / "proxy.yml"
    path.write_text(yaml.safe_dump({"divan_proxy": {"hosts": {name: {} for name in HOSTS}, "vars": group_vars}}))
    return str(path)


def maintenance(inventory, value):
    """ansible-playbook playbooks/maintenance.yml -e maintenance=<value> -> (rc, output, changed)."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", INVENTORY, "-i", inventory,
           str(ROOT / "playbooks/maintenance.yml")]
    if value is not None:
        cmd += ["-e", "maintenance=%s" % value]
    env = dict(os.environ,
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(cmd, cwd=str(SCENARIO), env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    recap = RECAP.findall(proc.stdout)
    changed = sum(int(c) for c, _unused in recap) if recap else None
    return proc.returncode, proc.stdout, changed


def caddy_state(host):
    """The running Caddy: its main PID and a digest of its loaded configuration."""
    pid = host.check_output("systemctl show -p MainPID --value caddy")
    config = admin_config(host)
    return pid, hashlib.sha256(config.encode()).hexdigest()


@pytest.fixture(scope="module")
def baseline(host, proxy_inventory):
    """Maintenance off first (test_changes.py left a changed configuration:
    this is the scenario's own), the Caddyfile and running state then; off
    again at the end, whatever failed."""
    try:
        rc, out, _unused = maintenance(proxy_inventory, "off")
        assert rc == 0, out[-3000:]
        assert "import divan_maintenance" not in host.file(CADDYFILE).content_string
        yield {"sha": host.file(CADDYFILE).sha256sum, "state": caddy_state(host)}
    finally:
        rc, out, _unused = maintenance(proxy_inventory, "off")
        assert rc == 0, out[-3000:]


def assert_maintenance_answer(resp, csp=None):
    assert resp.status == 503, resp
    assert resp.headers.get("retry-after") == [RETRY_AFTER], resp
    assert resp.headers.get("cache-control") == ["no-store"], resp
    assert resp.headers.get("content-type") == ["text/html; charset=utf-8"], resp
    assert resp.body.startswith("<!DOCTYPE html>") and TITLE in resp.body and MESSAGE in resp.body, resp
    # self-contained: nothing to load from anywhere
    assert not re.search(r"""(src|href)\s*=|<link|<script|url\(""", resp.body, re.I), resp
    assert_security_headers(resp, csp)


def test_other_values_are_refused_before_any_change(host, proxy_inventory, baseline):
    for value in ("maybe", None):
        rc, out, _unused = maintenance(proxy_inventory, value)
        assert rc != 0, out[-3000:]
        assert "Pass -e maintenance=on" in out and "Nothing was changed." in out, out[-3000:]
        assert "Write the Caddyfile" not in out, out[-3000:]
    assert host.file(CADDYFILE).sha256sum == baseline["sha"]
    assert caddy_state(host) == baseline["state"]


def test_on_answers_503_with_the_page_and_keeps_health_and_metrics(host, proxy_inventory, baseline):
    rc, out, changed = maintenance(proxy_inventory, "on")
    assert rc == 0, out[-3000:]
    assert changed and RELOAD in out, out[-3000:]
    pid, config = caddy_state(host)
    assert pid == baseline["state"][0], "Caddy was restarted, not reloaded"
    assert config != baseline["state"][1]
    for path in ("/", "/dashboard/games", "/api/x", "/api/users/me?x=1", "/socket.io/?EIO=4&transport=polling",
                 "/activities/session/abc", "/activities/x"):
        assert_maintenance_answer(request(host, BASE_URL + path))
    assert_maintenance_answer(request(host, BASE_URL + "/uploads/x"), csp=USER_CONTENT_CSP)
    # other methods too (an upload, a login)
    assert_maintenance_answer(request(host, BASE_URL + "/api/auth/login", "-X POST", "--data x=1"))
    # the health routes reach the backend as before
    for path in ("/health/live", "/health/ready"):
        resp = request(host, BASE_URL + path)
        assert resp.status == 200, resp
        assert (resp.json()["upstream"], resp.json()["path"]) == ("backend", path)
        assert_security_headers(resp)
    # metrics: refused from outside, the scraper's address still reaches the backend
    for path in ("/metrics", "/api/metrics"):
        resp = request(host, BASE_URL + path)
        assert resp.status == 403 and "upstream" not in resp.body, (path, resp)
        assert_security_headers(resp)
    resp = request(host, BASE_URL + "/metrics", "--interface 127.0.0.2")
    assert resp.status == 200 and resp.json()["upstream"] == "backend", resp
    # http and www still redirect to the site
    assert request(host, "http://divan.test/a?b=1").headers.get("location") == ["https://divan.test/a?b=1"]


def test_on_again_changes_nothing(host, proxy_inventory, baseline):
    before = caddy_state(host)
    rc, out, changed = maintenance(proxy_inventory, "on")
    assert rc == 0, out[-3000:]
    assert changed == 0 and RELOAD not in out, out[-3000:]
    assert caddy_state(host) == before
    assert_maintenance_answer(request(host, BASE_URL + "/"))


def test_off_gives_back_the_caddyfile_of_before(host, proxy_inventory, baseline):
    rc, out, changed = maintenance(proxy_inventory, "off")
    assert rc == 0, out[-3000:]
    assert changed and RELOAD in out, out[-3000:]
    assert host.file(CADDYFILE).sha256sum == baseline["sha"]
    assert caddy_state(host) == baseline["state"], "the same Caddyfile gives the same loaded configuration"
    resp = request(host, BASE_URL + "/")
    assert resp.status == 200 and resp.json()["upstream"] == "frontend", resp
    assert "retry-after" not in resp.headers and "cache-control" not in resp.headers, resp
    resp = request(host, BASE_URL + "/api/users/me")
    assert resp.status == 200 and resp.json()["path"] == "/users/me", resp
    assert json.loads(request(host, BASE_URL + "/health/live").body)["upstream"] == "backend"
