"""Every molecule scenario, as one test each.

A scenario passes when converge succeeds, the second converge reports no
change (molecule's idempotence step), a --check run on the converged host
reports changed=0 on every host, and its testinfra checks pass.

DIVAN_SCENARIOS (space separated) limits the run to those scenarios; by
default every folder of molecule/ except the shared one and the demo runs.
A scenario folder may hold env.yml, which is passed as molecule's --env-file
(e.g. to converge another base image).
"""

import fcntl
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MOLECULE_DIR = ROOT / "molecule"
LOG_DIR = ROOT / ".cache" / "logs"
NOT_SCENARIOS = {"_shared", "demo"}
# Collected first, so that the long scenarios start at once; the rest
# follow in name order. pytest-xdist (--dist load --maxschedchunk 1) first
# hands each worker two consecutive tests, then one at a time: pairs of
# (long, shorter) keep the two longest (fleet, site) on different workers.
LONG_FIRST = ["fleet", "activities_pm2", "site", "bootstrap", "deploy", "postgresql"]
RECAP = re.compile(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)", re.M)


def _scenarios():
    wanted = os.environ.get("DIVAN_SCENARIOS", "").split()
    found = sorted(
        p.name
        for p in MOLECULE_DIR.iterdir()
        if p.is_dir() and p.name not in NOT_SCENARIOS and (p / "molecule.yml").exists()
    )
    unknown = set(wanted) - set(found)
    if unknown:
        raise ValueError("unknown scenario(s): %s" % ", ".join(sorted(unknown)))
    found.sort(key=lambda s: (LONG_FIRST.index(s) if s in LONG_FIRST else len(LONG_FIRST), s))
    return [s for s in found if not wanted or s in wanted]


def _molecule_steps(scenario):
    """The scenario's test_sequence, with our --check assertion after `check`."""
    import yaml

    base = yaml.safe_load((ROOT / ".config/molecule/config.yml").read_text())
    own = yaml.safe_load((MOLECULE_DIR / scenario / "molecule.yml").read_text()) or {}
    seq = (own.get("scenario") or {}).get("test_sequence") or base["scenario"]["test_sequence"]
    return list(seq)


class Molecule:
    def __init__(self, scenario):
        self.scenario = scenario
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log = LOG_DIR / ("molecule-%s.log" % scenario)
        self.log.write_text("")
        self.timings = {}
        env_file = MOLECULE_DIR / scenario / "env.yml"
        self.base = ["molecule"]
        if env_file.exists():
            self.base += ["--env-file", str(env_file)]

    def run(self, step):
        cmd = self.base + [step, "-s", self.scenario]
        start = time.monotonic()
        proc = subprocess.run(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.timings[step] = round(time.monotonic() - start, 1)
        with self.log.open("a") as fh:
            fh.write("\n===== molecule %s -s %s (rc=%d, %.1fs)\n" % (
                step, self.scenario, proc.returncode, self.timings[step]))
            fh.write(proc.stdout)
        return proc

    def tail(self, proc, lines=80):
        return "\n".join(proc.stdout.splitlines()[-lines:])


def _anonymous_volumes(container):
    proc = subprocess.run(
        ["docker", "inspect", "-f",
         "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}", container],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    # Anonymous volumes have 64-hex-character names; named ones are left alone.
    return [v for v in proc.stdout.split() if re.fullmatch(r"[0-9a-f]{64}", v)]


@pytest.mark.parametrize("scenario", _scenarios())
def test_scenario(scenario):
    mol = Molecule(scenario)
    failure = None
    try:
        mol.run("destroy")  # a fresh instance, whatever a previous run left
        for step in _molecule_steps(scenario):
            if step == "destroy":
                continue  # done once before and once after, below
            proc = mol.run(step)
            if proc.returncode != 0:
                failure = "molecule %s failed for %s:\n%s" % (step, scenario, mol.tail(proc))
                break
            if step == "converge":
                # A converge that reached no container (an empty inventory
                # group) would pass every later step without testing anything.
                hosts = {h for h, _ in RECAP.findall(proc.stdout)} - {"localhost"}
                if not hosts:
                    failure = "converge of %s reached no instance (empty inventory?):\n%s" % (
                        scenario, mol.tail(proc))
                    break
            if step == "check":
                recaps = RECAP.findall(proc.stdout)
                changed = {h: int(c) for h, c in recaps if int(c)}
                if not recaps or changed:
                    failure = "--check on the converged host reported changes %s:\n%s" % (
                        changed, mol.tail(proc))
                    break
    finally:
        volumes = _anonymous_volumes("divan-%s" % scenario)
        mol.run("destroy")
        # molecule keeps the containers' anonymous volumes (nested Docker's
        # /var/lib/docker): remove them, or every run leaves gigabytes behind.
        if volumes:
            subprocess.run(["docker", "volume", "rm", "-f"] + volumes,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        timings = LOG_DIR / "timings.json"
        # Scenarios may run in parallel (pytest -n): one writer at a time.
        with (LOG_DIR / "timings.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = json.loads(timings.read_text()) if timings.exists() else {}
            data[scenario] = mol.timings
            timings.write_text(json.dumps(data, indent=2, sort_keys=True))
        print("%s: %s" % (scenario, mol.timings))
    if failure:
        pytest.fail(failure + "\n(full log: %s)" % mol.log, pytrace=False)
