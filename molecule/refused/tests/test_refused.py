"""The refused runs changed nothing, and the checks could have seen it.

converge.yml writes one record per host to molecule's ephemeral folder: the
refusals (role, case, the task that stopped the run, its message), the
snapshots before and after the cases, and what the snapshot saw of the
canary package. Without a converge there is no record and every test fails.
"""

import json
import os
import re
import shlex
from pathlib import Path

import testinfra.utils.ansible_runner
import yaml

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = RUNNER.get_hosts("all")

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
SNAPSHOT = (SCENARIO / "files" / "snapshot.sh").read_text()
CHECK_ACTIONS = {"assert", "fail", "validate_argument_spec"}


def _record(host):
    name = host.backend.get_hostname()
    path = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / ("refused-%s.json" % name)
    assert path.exists(), "no record of a converge for %s (%s)" % (name, path)
    return json.loads(path.read_text())


def _roles(host):
    return RUNNER.get_variables(host.backend.get_hostname())["divan_refused_roles"]


def _check_task_names(role):
    """The argument spec's task and the tasks of roles/<role>/tasks/assert*.yml."""
    names = []
    for path in sorted((ROOT / "roles" / role / "tasks").glob("assert*.yml")):
        names += [t["name"].split("{{")[0].strip() for t in yaml.safe_load(path.read_text()) or [] if "name" in t]
    return ["Validating arguments against arg spec"] + [n for n in names if n]


def test_host_release(host):
    want = RUNNER.get_variables(host.backend.get_hostname())["divan_refused_release"]
    assert host.system_info.release.split(".")[0] == str(want)
    assert _record(host)["release"] == str(want)


def test_every_case_refused_in_a_check_task_with_its_message(host):
    refusals = _record(host)["refusals"]
    expected = []
    for role in _roles(host):
        cases = yaml.safe_load((SCENARIO / "cases" / ("%s.yml" % role)).read_text())["cases"]
        expected += [(role, c["name"], c["expect"]) for c in cases]
    assert [(r["role"], r["case"], r["expect"]) for r in refusals] == expected
    for refusal in refusals:
        role = refusal["role"]
        assert not refusal["accepted"], refusal
        assert refusal["failed_action"].split(".")[-1] in CHECK_ACTIONS, refusal
        assert any(refusal["failed_task"].startswith(n) for n in _check_task_names(role)), refusal
        assert refusal["expect"] in refusal["message"], refusal


def test_snapshot_unchanged_by_the_refused_runs(host):
    record = _record(host)
    assert record["snapshot_after"] == record["snapshot_before"]
    now = host.check_output("bash -c %s" % shlex.quote(SNAPSHOT)).splitlines()
    changed = sorted(set(now) ^ set(record["snapshot_before"]))
    assert not changed, changed


def test_snapshot_sees_packages_files_and_units(host):
    """What the refused runs could have left: the snapshot saw the canary's."""
    record = _record(host)
    kinds = {line.split(" ", 1)[0] for line in record["snapshot_before"]}
    assert {"package", "etc-file", "etc", "var", "unit-file", "locale"} <= kinds, kinds
    diff = record["canary_diff"]
    assert [d for d in diff if d.startswith("package divan-refused-canary ")], diff
    assert [d for d in diff if re.match(r"etc-file [0-9a-f]+ +/etc/divan-refused-canary/canary\.conf$", d)], diff
    assert [d for d in diff if d.startswith("unit-file divan-refused-canary.service ")], diff
