"""playbooks/verify.yml (divan.platform.verify) against the converged full stack (after test_site.py).

The readiness report must pass every line (auth flow with the verification
mail read from the test SMTP server's Maildir, uploads to the test S3 server,
WebSockets and Socket.IO through Caddy, TLS and security headers, the
frontend, health, metrics, smtp_check, s3_check). With the development bypass on, it must fail
on the auth-flow line and only there.
"""

import json
import os
import subprocess
from pathlib import Path

import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or SCENARIO.parents[1])
ROOT = "/opt/divan"
TOKEN = "8f92489d44b527a6c400a4472038e38df897b6cd4ab68e6e415774039f8e547c"
SMTP_PASSWORD = "2cb5b9ea689b68f6e3336e12486471a97922cab550fd62d2dd58c66f4d58b2ad"
USERS = "sudo -u postgres psql -d divan -tAc 'SELECT count(*) FROM users'"


def playbook(path, *extra_vars, tags=None):
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"),
        ANSIBLE_ROLES_PATH=str(PROJECT / "roles"),
        ANSIBLE_NOCOLOR="1",
        MOLECULE_PROJECT_DIRECTORY=str(PROJECT),
    )
    cmd = ["ansible-playbook", "-i", INVENTORY, str(path)]
    if tags:
        cmd += ["--tags", tags]
    for ev in extra_vars:
        cmd += ["-e", json.dumps(ev)]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return proc.returncode, proc.stdout


def verify(tmp_path):
    report = tmp_path / "report.json"
    rc, out = playbook(PROJECT / "playbooks/verify.yml", {"verify_report_path": str(report)})
    assert report.exists(), out[-4000:]
    return rc, out, json.loads(report.read_text())["lines"]


def test_verify_playbook_passes_every_line(host, tmp_path):
    rc, out, lines = verify(tmp_path)
    assert rc == 0, out[-6000:]
    assert "VERIFY SUMMARY https://divan.test: 12 pass, 0 fail, 0 skip" in out, out[-4000:]
    assert [line["result"] for line in lines] == ["pass"] * 12, lines
    assert TOKEN not in out and SMTP_PASSWORD not in out
    assert host.check_output(USERS) == "0"


def test_verify_fails_on_the_auth_flow_with_the_dev_bypass_on(host, tmp_path):
    rc, out = playbook(SCENARIO / "converge.yml",
                       {"app_email_verification_bypass": True, "app_env_check": False}, tags="app")
    assert rc == 0, out[-4000:]
    try:
        assert "EMAIL_VERIFICATION_BYPASS='true'" in host.file(ROOT + "/.env").content_string
        rc, out, lines = verify(tmp_path)
        assert rc != 0
        failed = [line for line in lines if line["result"] == "fail"]
        assert [line["item"].split(":")[0] for line in failed] == ["auth flow"], lines
        assert "development bypass" in failed[0]["why"]
        assert host.check_output(USERS) == "0"
    finally:
        rc, out = playbook(SCENARIO / "converge.yml", tags="app")
        assert rc == 0, out[-4000:]
