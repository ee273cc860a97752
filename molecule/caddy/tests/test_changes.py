"""Re-running divan.platform.caddy: unchanged, with a bad change, with a good
change. Runs after test_caddy.py (file order): the last case leaves the host
with a changed configuration."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner

from caddyprobe import BASE_URL, WebSocketSession, admin_config, install_fetched_root, request

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
RECAP = re.compile(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", re.M)


@pytest.fixture(scope="module", autouse=True)
def fetched_root(host):
    return install_fetched_root(host)


def rerun_role(extra_vars=None):
    """ansible-playbook playbooks/rerun.yml (the role with vars.yml) -> (rc, output, changed)."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"),
           "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "playbooks/rerun.yml")]
    if extra_vars:
        cmd += ["--extra-vars", json.dumps(extra_vars)]
    env = dict(os.environ,
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(cmd, cwd=str(SCENARIO), env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    recap = RECAP.findall(proc.stdout)
    changed = int(recap[-1][0]) if recap else None
    return proc.returncode, proc.stdout, changed


def caddy_state(host):
    """The running Caddy: its main PID and a digest of its loaded configuration."""
    pid = host.check_output("systemctl show -p MainPID --value caddy")
    config = admin_config(host)
    return pid, hashlib.sha256(config.encode()).hexdigest()


def caddy_version(host):
    version = host.check_output("caddy version").split()[0].lstrip("v")
    return tuple(int(x) for x in version.split(".")[:2])


def test_unchanged_rerun_changes_nothing_and_keeps_websockets_open(host):
    before = caddy_state(host)
    ws = WebSocketSession(host, "/activities/session/rerun")
    rc, out, changed = rerun_role()
    assert rc == 0, out[-3000:]
    assert changed == 0, out[-3000:]
    assert caddy_state(host) == before, "an unchanged run reloaded or restarted Caddy"
    text = ws.finish()
    assert "echo activities-core: after" in text, text


def test_invalid_change_fails_with_caddys_message_and_old_config_serves(host):
    before = caddy_state(host)
    old_file = host.file("/etc/caddy/Caddyfile").sha256sum
    rc, out, _unused = rerun_role({"caddy_extra_config": "divan_no_such_directive on"})
    assert rc != 0, out[-3000:]
    # Caddy's own words, from `caddy validate`.
    assert "unrecognized directive: divan_no_such_directive" in out, out[-3000:]
    assert host.file("/etc/caddy/Caddyfile").sha256sum == old_file
    assert caddy_state(host) == before
    resp = request(host, BASE_URL + "/api/still-serving")
    assert resp.status == 200 and resp.json()["path"] == "/still-serving"


def test_changed_variable_is_applied_with_a_graceful_reload(host):
    before_pid, before_config = caddy_state(host)
    ws = WebSocketSession(host, "/activities/session/reload")
    rc, out, changed = rerun_role({"caddy_extra_headers": {"X-Divan-Change": "applied"}})
    assert rc == 0, out[-3000:]
    assert changed and "RUNNING HANDLER [divan.platform.caddy : Reload caddy]" in out, out[-3000:]
    after_pid, after_config = caddy_state(host)
    assert after_pid == before_pid, "Caddy was restarted, not reloaded"
    assert after_config != before_config
    resp = request(host, BASE_URL + "/")
    assert resp.headers.get("x-divan-change") == ["applied"], resp
    text = ws.finish()
    if caddy_version(host) >= (2, 7):
        # stream_close_delay keeps the session through the reload.
        assert "echo activities-core: after" in text, text
    else:
        # Caddy 2.6 closes proxied WebSockets when it unloads the old
        # configuration and has no stream_close_delay; clients reconnect.
        assert "lost" in text, text
        again = WebSocketSession(host, "/activities/session/reconnect")
        assert "echo activities-core: after" in again.finish()
        pytest.xfail("Caddy %d.%d closes WebSockets on a reload (stream_close_delay needs 2.7+); "
                     "a reconnect works" % caddy_version(host))
