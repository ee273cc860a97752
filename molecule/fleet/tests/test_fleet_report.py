"""The readiness report on the fleet: site.yml's verification wrote it, and
playbooks/verify.yml writes report.html, report.junit.xml and report.json
with every line of the platform's production checklist mapped, the status
of both app hosts in its checks and the frontend loaded in headless
Chromium through the proxy."""

import json
import os
import re
import subprocess
from pathlib import Path

import testinfra.utils.ansible_runner
from junitparser import JUnitXml

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = RUNNER.get_hosts("divan_proxy")

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or Path(__file__).resolve().parents[3])
CHECKLIST = PROJECT / "roles/verify/files/PRODUCTION_CHECKLIST.md"
SITE_REPORT = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "verify-report"
APPS = ["divan-fleet-app1", "divan-fleet-app2"]


def _verify(folder):
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(PROJECT / ".collections"), ANSIBLE_NOCOLOR="1",
               MOLECULE_PROJECT_DIRECTORY=str(PROJECT))
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(PROJECT / "playbooks/verify.yml"),
           "-e", json.dumps({"verify_report_dir": str(folder), "verify_auth_flow": False})]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return proc.returncode, proc.stdout


def test_site_run_wrote_the_report(host):
    for name in ("report.html", "report.junit.xml", "report.json", "frontend.png"):
        assert (SITE_REPORT / name).stat().st_size > 0, name


def test_verify_writes_the_report_of_the_fleet(host, tmp_path):
    rc, out = _verify(tmp_path)
    assert rc == 0, out[-6000:]
    report = json.loads((tmp_path / "report.json").read_text())
    bullets = [line for line in CHECKLIST.read_text().splitlines() if re.match(r"\s*- ", line)]
    assert len(report["checklist"]) == len(bullets) == 44
    assert report["summary"]["fail"] == 0, [i for i in report["checklist"] if i["verdict"] == "fail"]
    checks = {check["id"]: check for check in report["checks"]}
    for name in APPS:
        assert name + ": " in checks["app.services"]["why"], checks["app.services"]
        assert name + ": /srv/divan/uploads (s3, fuse.rclone mount)" in checks["app.uploads"]["why"], checks["app.uploads"]
    assert checks["browser.frontend"]["result"] == "pass", checks["browser.frontend"]
    assert checks["proxy.auth_flow"]["result"] == "skip"
    suites = JUnitXml.fromfile(str(tmp_path / "report.junit.xml"))
    assert suites.tests == 44 and suites.failures == 0 and suites.errors == 0
    page = (tmp_path / "report.html").read_text()
    assert 'id="summary"' in page and "data:image/png;base64," in page
