"""playbooks/verify.yml (divan.platform.verify) against the converged full stack (after test_site.py).

The readiness report must pass every checklist line (auth flow with the
verification mail read from the test SMTP server's Maildir, anonymous uploads
through Caddy read back and served sandboxed, then deleted on the app host,
the activities session stream and the 1008 close of an unknown session,
Socket.IO with 20 follow-up polls of one session, TLS and security headers,
the frontend, health, metrics, smtp_check, s3_check) and skip only the two
application findings. With the development bypass on, it must fail on the
auth-flow line and only there.
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


FINDINGS = ["real-time: broadcasting across instances (application finding)",
            "uploads: anonymous writes (application finding)"]
PROBE_UPLOADS = "find /srv/divan/uploads/verify -type f 2>/dev/null | wc -l"


def test_verify_playbook_passes_every_line(host, tmp_path):
    rc, out, lines = verify(tmp_path)
    assert rc == 0, out[-6000:]
    assert "VERIFY SUMMARY https://divan.test: 13 pass, 0 fail, 2 skip" in out, out[-4000:]
    assert [line["item"] for line in lines if line["result"] != "pass"] == FINDINGS, lines
    assert [line["result"] for line in lines].count("pass") == 13, lines
    socketio = [line for line in lines if "Socket.IO" in line["item"]][0]
    assert "20 of 20 polls answered by pid" in socketio["why"], socketio
    closed = [line for line in lines if "unknown activities session" in line["item"]][0]
    assert "closed with 1008 session_not_found" in closed["why"], closed
    uploads = [line for line in lines if line["item"].startswith("uploads: anonymous PUT")][0]
    assert "read back identical" in uploads["why"] and "deleted from /srv/divan/uploads" in uploads["why"], uploads
    assert host.check_output(PROBE_UPLOADS) == "0"
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
