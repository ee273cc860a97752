"""Every molecule scenario, as one test each.

A scenario passes when converge succeeds, the second converge reports no
change (molecule's idempotence step), a --check run on the converged host
reports changed=0 on every host, and its testinfra checks pass.

DIVAN_SCENARIOS (space separated) limits the run to those scenarios; by
default every folder of molecule/ runs except _shared, demo and default.
A scenario folder may hold env.yml, which is passed as molecule's --env-file
(e.g. to converge another base image).

After the last destroy, none of the scenario's containers, networks or
anonymous volumes may be left: the test removes leftover volumes and fails
when anything remains.
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
# _shared holds playbooks, demo is `make demo`'s target, default is
# molecule's placeholder (molecule/default/molecule.yml).
NOT_SCENARIOS = {"_shared", "demo", "default"}
# Collected first, so that the long scenarios start at once; the rest
# follow in name order. pytest-xdist (--dist load --maxschedchunk 1) first
# hands each worker two consecutive tests, then one at a time: pairs of
# (long, shorter) keep the two longest (fleet, site) on different workers;
# production, the third, goes to the first worker that is free.
LONG_FIRST = ["fleet", "activities_pm2", "site", "bootstrap", "production", "deploy", "postgresql"]
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


def _interpolated(path, env):
    """A molecule config file read as molecule reads it: ${VAR} and ${VAR:-default} replaced first."""
    import yaml

    def value(match):
        name, default = match.group(1), match.group(3)
        return str(env.get(name, default if default is not None else ""))

    return yaml.safe_load(re.sub(r"\$\{(\w+)(:-([^}]*))?\}", value, path.read_text())) or {}


def _platforms(scenario):
    """(container names, network names) of the scenario's platforms."""
    import yaml

    env_file = MOLECULE_DIR / scenario / "env.yml"
    env = dict(os.environ, MOLECULE_SCENARIO_NAME=scenario)
    if env_file.exists():
        env.update(yaml.safe_load(env_file.read_text()) or {})
    base = _interpolated(ROOT / ".config/molecule/config.yml", env)
    own = _interpolated(MOLECULE_DIR / scenario / "molecule.yml", env)
    platforms = own.get("platforms") or base["platforms"]
    names = [p["name"] for p in platforms]
    networks = sorted({n["name"] for p in platforms for n in p.get("networks", []) + p.get("docker_networks", [])})
    return names, networks


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
        # The scenarios are in molecule/ (not extensions/molecule/): saying so
        # spares a warning on every command.
        self.env = dict(os.environ, MOLECULE_GLOB="molecule/*/molecule.yml")

    def run(self, step):
        cmd = self.base + [step, "-s", self.scenario]
        start = time.monotonic()
        proc = subprocess.run(
            cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            check=False,
        )
        self.timings[step] = round(time.monotonic() - start, 1)
        with self.log.open("a") as fh:
            fh.write("\n===== molecule %s -s %s (rc=%d, %.1fs)\n" % (
                step, self.scenario, proc.returncode, self.timings[step]))
            fh.write(proc.stdout)
        return proc

    def tail(self, proc, lines=80):
        return "\n".join(proc.stdout.splitlines()[-lines:])


def _docker(*args):
    proc = subprocess.run(
        ["docker"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        check=False
    )
    return proc.stdout.split()


def _anonymous_volumes(containers):
    found = []
    for container in containers:
        found += _docker("inspect", "-f",
                         "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}", container)
    # Anonymous volumes have 64-hex-character names; named ones are left alone.
    return [v for v in found if re.fullmatch(r"[0-9a-f]{64}", v)]


def _left_behind(containers, networks, volumes):
    """What of the scenario still exists after its destroy."""
    left = []
    for name in containers:
        left += ["container %s" % c for c in _docker("ps", "-aq", "--filter", "name=^/%s$" % name)]
    for name in networks:
        left += ["network %s" % n for n in _docker("network", "ls", "-q", "--filter", "name=^%s$" % name)]
    existing = set(_docker("volume", "ls", "-q"))
    left += ["volume %s" % v for v in volumes if v in existing]
    return left


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
                hosts = {h for h, _unused in RECAP.findall(proc.stdout)} - {"localhost"}
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
        containers, networks = _platforms(scenario)
        volumes = _anonymous_volumes(containers)
        proc = mol.run("destroy")
        if proc.returncode != 0 and not failure:
            failure = "molecule destroy failed for %s:\n%s" % (scenario, mol.tail(proc))
        # The shared platform has keep_volumes: false; a scenario with its own
        # platform list may lack it: its containers' anonymous volumes (nested
        # Docker's /var/lib/docker) would stay, gigabytes per run.
        if volumes:
            subprocess.run(["docker", "volume", "rm", "-f"] + volumes,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        left = _left_behind(containers, networks, volumes)
        if left and not failure:
            failure = "%s left behind after its destroy: %s" % (scenario, ", ".join(left))
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
